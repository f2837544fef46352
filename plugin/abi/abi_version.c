/* Version queries and the single-symbol function table (g4_get_api). */
#include "base/internal.h"

#ifndef G4_VERSION_STRING
#define G4_VERSION_STRING "0.0.0-dev"
#endif

G4_API uint32_t G4_CALL g4_abi_version(void) { return G4_ABI_VERSION; }

G4_API const char *G4_CALL g4_version_string(void) { return G4_VERSION_STRING; }

/* Static and const: hosts may keep the pointer for the life of the library. Members are in the
 * order of abi/g4plug.h; new minor versions only append. */
static const g4_api_v1 k_api_v1 = {
    sizeof(g4_api_v1),
    G4_ABI_VERSION,
    g4_abi_version,
    g4_version_string,
    g4_last_error,
    g4_status_name,
    g4_load_params_init,
    g4_load,
    g4_model_free,
    g4_model_get_info,
    g4_model_meta,
    g4_tokenize,
    g4_detokenize,
    g4_token_to_piece,
    g4_token_id,
    g4_token_is_eog,
    g4_vocab_size,
    g4_chat_template,
    g4_chat_format,
    g4_image_options_init,
    g4_embed_image,
    g4_embed_audio,
    g4_embed_image_file,
    g4_embed_audio_file,
    g4_session_params_init,
    g4_session_new,
    g4_session_free,
    g4_session_reset,
    g4_session_n_past,
    g4_session_n_ctx,
    g4_session_truncate,
    g4_session_min_rollback,
    g4_session_cancel,
    g4_batch_init,
    g4_step,
    g4_logits,
    g4_hidden,
    g4_sampler_params_init,
    g4_sampler_new,
    g4_sampler_free,
    g4_sampler_sample,
    g4_sampler_accept,
    g4_sampler_reset,
    g4_draft,
    g4_generate_params_init,
    g4_generate,
    g4_session_capture_layers,
    g4_captured_layer,
    g4_manifest_check,
    /* 1.1 */
    g4_load_params_init_sized,
    g4_image_options_init_sized,
    g4_session_params_init_sized,
    g4_batch_init_sized,
    g4_sampler_params_init_sized,
    g4_generate_params_init_sized,
    /* 1.1: special-token safe chat prompts */
    g4_chat_tokenize,
    /* 1.1: tools, thinking and structured chat */
    g4_chat_format_json,
    g4_chat_parse,
    g4_grammar_new,
    g4_grammar_free,
    g4_grammar_reset,
    g4_grammar_apply,
    g4_grammar_accept,
    g4_grammar_is_complete,
    g4_chat_tokenize_json,
    /* 1.1: video */
    g4_video_options_init_sized,
    g4_video_sample,
    g4_embed_video_frame,
    g4_video_format,
};

G4_API g4_status G4_CALL g4_get_api(uint32_t major, const void **out)
{
    g4_clear_error();
    if (!out)
        return g4_fail(G4_ERR_INVALID_ARGUMENT, "g4_get_api: out is NULL");
    *out = NULL;
    if (major != G4_ABI_VERSION_MAJOR)
        return g4_fail(G4_ERR_UNSUPPORTED,
                       "g4_get_api: ABI major version %u is not provided (this library: %u.%u)",
                       (unsigned)major, (unsigned)G4_ABI_VERSION_MAJOR,
                       (unsigned)G4_ABI_VERSION_MINOR);
    *out = &k_api_v1;
    return G4_OK;
}
