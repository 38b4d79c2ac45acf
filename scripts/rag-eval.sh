#!/usr/bin/env bash
# The RAG evaluation (XQuAD ru and en) through the real binary: a host with
# a rag instance whose embed_instance is an llm-openai instance, the
# paragraphs ingested with document.add, the questions asked with search in
# bm25, vector and hybrid modes (tests/tools/rag_eval_api.c).
#
#   scripts/rag-eval.sh                  # the fake OpenAI's stand-in embeddings
#   RAG_BASE_URL=https://api.openai.com/v1 RAG_API_KEY=sk-... \
#   RAG_MODEL=text-embedding-3-small scripts/rag-eval.sh     # a real provider
#
# Any OpenAI-compatible base URL works (OpenRouter, Ollama's
# http://127.0.0.1:11434/v1, vLLM). RAG_DIMENSIONS (default 1024) is sent as
# embed's dimensions (leave it empty for models that take none), RAG_LIMIT
# asks only that many questions. RAG_RERANK=N adds the mode hybrid+rerankN:
# hybrid re-ranked by the chat model (RAG_CHAT_MODEL, default the fake's
# gpt-4o-mini: query-word overlap, a stand-in) over the top N
# (docs/plugins/rag.md#re-ranking). Hybrid fuses by RAG_FUSION (convex, or
# rrf) with the vectors weighted RAG_VECTOR_WEIGHT (0.1, BM25 1.0: the
# stand-in's vectors are weak; try 1.0 with a real model). BUILD defaults
# to build-test.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build-test}
dir=$(mktemp -d "${TMPDIR:-/tmp}/agenthost-rag-eval-XXXXXX")
pids=()
# shellcheck disable=SC2317 # called by the trap
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$dir"
}
trap cleanup EXIT
mkdir -p "$dir/plugins"
for p in rag llm-openai jq; do cp -r "$BUILD/plugins/$p" "$dir/plugins/"; done

base_url=${RAG_BASE_URL:-}
model=${RAG_MODEL:-ngram-stand-in}
if [[ -z $base_url ]]; then
  "$BUILD/tests/fakes/fake_openai" --port-file "$dir/fake.port" >/dev/null 2>&1 &
  pids+=($!)
  for _ in $(seq 100); do [[ -s $dir/fake.port ]] && break; sleep 0.1; done
  port=$(cat "$dir/fake.port")
  base_url="http://127.0.0.1:$port/v1"
  egress="\"egress\":[{\"scheme\":\"http\",\"host\":\"127.0.0.1\",\"port\":$port,\"private\":true}],"
else
  egress=""
fi
dims=${RAG_DIMENSIONS-1024}
dims_cfg=${dims:+",\"embed_dimensions\":$dims"}
cat >"$dir/config.json" <<JSON
{"listen": "127.0.0.1:0", "data_dir": "$dir/var", "logs_dir": "$dir/logs",
 "plugins_dir": "$dir/plugins",
 "instances": [
  {"id": "kb", "plugin": "rag", "limits": {"stall_ms": 300000},
   "config": {"embed_instance": "llm", "embed_batch": 64, "embed_timeout_ms": 300000$dims_cfg,
              "rerank_instance": "llm", "rerank_timeout_ms": 300000,
              "hybrid_weights": {"bm25": 1.0, "vector": ${RAG_VECTOR_WEIGHT:-0.1}},
              "hybrid_fusion": "${RAG_FUSION:-convex}"}},
  {"id": "llm", "plugin": "llm-openai", $egress
   "config": {"base_url": "$base_url", "embedding_model": "$model",
              "model": "${RAG_CHAT_MODEL:-gpt-4o-mini}", "timeout_ms": 300000}}]}
JSON
agenthost() { "$BUILD/agenthost" "$@"; }
if [[ -n ${RAG_API_KEY:-} ]]; then
  printf '%s\n' "$RAG_API_KEY" | agenthost secret set llm api_key --config "$dir/config.json" >/dev/null
fi
token=$(agenthost token create --name rag-eval --config "$dir/config.json")
# The binary itself, not the function: `func &` forks a subshell, and $! would
# be that subshell, leaving the host running after the kill.
"$BUILD/agenthost" serve --config "$dir/config.json" >/dev/null 2>"$dir/stderr.txt" &
pids+=($!)
url=""
for _ in $(seq 300); do
  port=$(grep 'listening on' "$dir/logs/host.log" 2>/dev/null | grep -o '"port":[0-9]*' |
    head -1 | cut -d: -f2 || true)
  [[ -n $port ]] && url="http://127.0.0.1:$port" && break
  sleep 0.1
done
[[ -n $url ]] || { echo "rag-eval: the host did not start" >&2; cat "$dir/stderr.txt" >&2; exit 1; }
status=0
for lang in ru en; do
  AGENTHOST_TOKEN=$token "$BUILD/tests/rag_eval_api" --url "$url" --instance kb \
    --set tests/fixtures/rag/xquad_$lang ${RAG_LIMIT:+--limit "$RAG_LIMIT"} \
    --modes "bm25,vector,hybrid${RAG_RERANK:+,hybrid+rerank$RAG_RERANK}" || status=1
done
exit $status
