# Sourced by the benchmark scripts: installs what they need (the project's packages and Debian's
# python3-torch for the Python baselines), builds, and makes the benchmark dataset: 300
# Fashion-MNIST images (3 classes x 100) in $bench.
scripts/install-deps.sh
# python_modules_or_install MODULES PACKAGE...: installs Debian's PACKAGEs unless /usr/bin/python3
# imports MODULES (e.g. "torch, torchvision") already.
python_modules_or_install() {
  local modules=$1
  shift
  /usr/bin/python3 -c "import $modules" 2>/dev/null && return 0
  local sudo=""
  [[ $(id -u) -ne 0 ]] && sudo="sudo"
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "$@"
}
python_modules_or_install "torch, torchvision" python3 python3-torch python3-torchvision
scripts/build.sh
bench=data/fashion-mnist-3-bench
if [[ $(find "$bench" -name '*.png' 2>/dev/null | wc -l) -ne 300 ]]; then
  rm -rf "$bench"
  ./build/bin/idx_to_imagefolder --out "$bench" --classes 0,1,2 --per-class 100
fi
