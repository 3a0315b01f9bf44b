# Sourced by the device scripts (scripts/device_*.sh) after DEVICE is set: the clock `el` (seconds since the start),
# the carried wheels installed for the device image's python3 (.whl -> /tmp/site, with .site on the path) when on
# cuda, PYTHONPATH, and one thread per process.
T0=$(date +%s); el() { echo $(( $(date +%s) - T0 )); }
if [ "$DEVICE" = cuda ] && [ -d .whl ]; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl \
    || exit 1
  export PYTHONPATH=/tmp/site:$PWD/.site:$PWD
else
  export PYTHONPATH=$PWD
fi
export PYTHONUNBUFFERED=1 OMP_NUM_THREADS=1 MKL_NUM_THREADS=1
