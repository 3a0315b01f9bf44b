"""Online behavior learners that generate the offline datasets (MATD3), and the collection protocols.

from common.behavior import MATD3Config, train, collect, generate_protocol, load_or_generate
"""

from common.behavior.collect import generate_protocol
from common.behavior.matd3 import MATD3, MATD3Config
from common.behavior.matd3_train import TrainResult, train
from common.behavior.protocol_cache import load_or_generate
from common.behavior.replay import ReplayBuffer
from common.behavior.rollouts import collect, medium_replay_from_buffer

__all__ = [
    "MATD3",
    "MATD3Config",
    "ReplayBuffer",
    "TrainResult",
    "train",
    "collect",
    "medium_replay_from_buffer",
    "generate_protocol",
    "load_or_generate",
]
