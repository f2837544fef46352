/* Model resolution: turns what a host passes as g4_load_params.model into file paths.
 *
 * `spec` is tried, in this order:
 *  1. An existing regular file: used as is (split GGUFs: any shard; the reader finds the others).
 *     Nothing beside it is guessed: mmproj and draft stay empty.
 *  2. An existing folder (an LM Studio model folder <root>/<publisher>/<model>/, or any folder):
 *     its *.gguf files (not recursive; hidden files ignored) are sorted into
 *       - projectors: names starting with "mmproj" (case-insensitive),
 *       - drafters:   names starting with "mtp-" or containing "assistant",
 *       - models:     everything else. Split shards NAME-0000k-of-0000n.gguf count as one model
 *                     and resolve to shard 00001.
 *     Exactly one model is required (several: G4_ERR_INVALID_ARGUMENT listing them; none:
 *     G4_ERR_NOT_FOUND). Among several projectors or drafters the choice is deterministic: the
 *     file whose name carries the precision token (split on - _ .) f16, then bf16, then f32, then
 *     any other; ties go to the byte-wise smallest name. LM Studio community repos ship
 *     mmproj-model-f16.gguf, which this rule prefers.
 *  3. "publisher/model" (or "publisher/model/file.gguf") under the LM Studio roots, first hit wins:
 *     $LMSTUDIO_MODELS, $LMSTUDIO_HOME/models, ~/.lmstudio/models, ~/.cache/lm-studio/models.
 *  4. An Ollama name [host/][namespace/]model[:tag] (defaults registry.ollama.ai, library, latest)
 *     in the store at $OLLAMA_MODELS, else ~/.ollama/models (%USERPROFILE%\.ollama\models on
 *     Windows). Layers: application/vnd.ollama.image.model → model,
 *     application/vnd.ollama.image.projector → mmproj (the first, as Ollama does),
 *     application/vnd.ollama.image.draft → draft. Blobs are blobs/sha256-<hex> (legacy
 *     blobs/sha256:<hex> accepted); each must be a regular file of the size the manifest states.
 *     Needs cJSON (G4_HAVE_CJSON); without it Ollama names give G4_ERR_UNSUPPORTED.
 * A leading "~/" is expanded with $HOME (%USERPROFILE% on Windows).
 *
 * projector_in_model is set when no separate projector was found but the model GGUF itself carries
 * vision/audio tensors (v.*, a.*, mm.*, model.vision_tower.*) or clip.* keys: Ollama's single-blob
 * Gemma 4 layout. The loader should then build the vision/audio encoders from the model file.
 * A model file the GGUF reader rejects is not an error here (projector_in_model stays 0); the
 * loader reports it with its own message.
 *
 * Hostile input: manifests are read only up to 1 MiB, every name component must match
 * [A-Za-z0-9][A-Za-z0-9._-]* (so no "..", no separators), digests must be sha256:<64 hex>.
 * Errors set the thread's last error (g4_fail) and return G4_ERR_INVALID_ARGUMENT (bad spec or
 * ambiguous folder), G4_ERR_NOT_FOUND (nothing by that name), G4_ERR_IO (unreadable),
 * G4_ERR_FORMAT (malformed manifest, size mismatch) or G4_ERR_UNSUPPORTED. */
#ifndef G4_MODEL_RESOLVE_H
#define G4_MODEL_RESOLVE_H

#include "base/internal.h"

#define G4_RESOLVE_PATH_MAX 4096

typedef struct g4_resolved {
    char model[G4_RESOLVE_PATH_MAX];  /* main model GGUF (first shard of a split model) */
    char mmproj[G4_RESOLVE_PATH_MAX]; /* projector GGUF, or "" */
    char draft[G4_RESOLVE_PATH_MAX];  /* drafter GGUF, or "" */
    int projector_in_model;           /* 1: the model file carries the projector itself */
    char source[16];                  /* "path", "lmstudio" or "ollama" */
} g4_resolved;

g4_status g4_resolve_model(const char *spec, g4_resolved *out);

#endif
