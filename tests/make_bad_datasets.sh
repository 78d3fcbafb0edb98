#!/usr/bin/env bash
# Creates data folders that are each broken in one way, next to valid files
# linked from the Fashion-MNIST folder, for the bad-input tests.
#
# Usage: make_bad_datasets.sh SOURCE_FOLDER TARGET_FOLDER
set -euo pipefail
source=$1
target=$2
rm -rf "$target"
mkdir -p "$target"

link_valid_files() {
  local folder=$1
  mkdir -p "$folder"
  for name in train-images-idx3-ubyte train-labels-idx1-ubyte t10k-images-idx3-ubyte t10k-labels-idx1-ubyte; do
    ln -sf "$source/$name.gz" "$folder/$name.gz"
  done
}

# Training images that are not an IDX file at all.
link_valid_files "$target/wrong-magic"
rm "$target/wrong-magic/train-images-idx3-ubyte.gz"
printf 'this is not an IDX file\n' >"$target/wrong-magic/train-images-idx3-ubyte"

# Test images cut short after 1000 bytes (header says 10000 images).
link_valid_files "$target/truncated"
rm "$target/truncated/t10k-images-idx3-ubyte.gz"
# Process substitution, because zcat dies of SIGPIPE when head stops reading.
head -c 1000 < <(zcat "$source/t10k-images-idx3-ubyte.gz") >"$target/truncated/t10k-images-idx3-ubyte"

# Training labels of the 10,000-image test set next to 60,000 training images.
link_valid_files "$target/count-mismatch"
ln -sf "$source/t10k-labels-idx1-ubyte.gz" "$target/count-mismatch/train-labels-idx1-ubyte.gz"

# A folder without the training images.
link_valid_files "$target/missing"
rm "$target/missing/train-images-idx3-ubyte.gz"

# A bandwidth trace whose third line has a bandwidth that is not a number.
cat >"$target/bad-trace.csv" <<'TRACE'
time_s,client,uplink_mbps,downlink_mbps
0,0,10,25
5,1,fast,25
TRACE
