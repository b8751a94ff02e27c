"""Every private method of TRL's and transformers' trainers that reft-trl's trainers override, in one place.

A TRL upgrade that renames, drops or re-signs one of these breaks a trainer silently (the override is no longer
called, or is called with other arguments). `tests/trainers/test_trl_overrides.py` checks each entry against the
installed TRL, so that test is the checklist of a TRL upgrade: when it fails, read the changed method in TRL and the
override named here before updating the recorded parameters.

Each entry: (TRL class, method, the parameters of TRL's method as of the pinned TRL, where reft-trl overrides it).
"""

from __future__ import annotations

TRL_OVERRIDES = (
    # GRPOTrainer, the base of ReFTPPOTrainer and OnlineSelfTrainingTrainer
    ("GRPOTrainer", "_generate_and_score_completions", ("self", "inputs"),
     "ReFTPPOTrainer (KL-shaped rewards, GAE), OnlineSelfTrainingTrainer (kept samples + gold), "
     "SkipTrlRolloutLogpsMixin (in both: marks TRL's rollout)"),
    ("GRPOTrainer", "_calculate_rewards", ("self", "inputs", "prompts", "completions", "completion_ids_list"),
     "RolloutScoresMixin (keeps the raw scores)"),
    ("GRPOTrainer", "_get_per_token_logps_and_entropies",
     ("self", "model", "input_ids", "attention_mask", "logits_to_keep", "batch_size", "compute_entropy",
      "compute_aux_loss", "pixel_values", "image_grid_thw", "num_images", "pixel_attention_mask", "spatial_shapes",
      "num_tiles", "image_sizes", "token_type_ids", "mm_token_type_ids", "image_position_ids"),
     "SkipTrlRolloutLogpsMixin, in ReFTPPOTrainer and OnlineSelfTrainingTrainer (skips the policy forward TRL's "
     "rollout runs for old log-probs neither reads; uses only `model`)"),
    ("GRPOTrainer", "_compute_loss", ("self", "model", "inputs"),
     "ReFTPPOTrainer (clipped policy + value loss), OnlineSelfTrainingTrainer (cross-entropy)"),
    ("GRPOTrainer", "_prepare_inputs", ("self", "generation_batch"),
     "ReFTPPOTrainer (a fresh mini-batch shuffle each PPO epoch; reads _buffered_inputs and _step)"),
    ("GRPOTrainer", "_tokenize_prompts", ("self", "prompts"),
     "ContinuedPromptsMixin (a conversation ending with the assistant's message is continued, not closed), also in "
     "the GRPO script's trainer"),
    ("GRPOTrainer", "_generate_single_turn",
     ("self", "prompt_ids", "images", "multimodal_fields", "num_generations", "has_tool_images"),
     "MixedPrecisionGenerationMixin (autocast, or the bf16 copy as `model_wrapped`), "
     "OnlineSelfTrainingTrainer (eval mode)"),
    # transformers' Trainer, through GRPOTrainer
    ("GRPOTrainer", "_save", ("self", "output_dir", "state_dict"), "ReFTPPOTrainer (the critic in its own file)"),
    ("GRPOTrainer", "_load_from_checkpoint", ("self", "resume_from_checkpoint", "model"),
     "ReFTPPOTrainer (the critic from its own file)"),
    ("GRPOTrainer", "create_optimizer", ("self", "model"), "ReFTPPOTrainer (the critic's own learning rate)"),
    ("GRPOTrainer", "training_step", ("self", "model", "inputs", "num_items_in_batch"),
     "ReFTPPOTrainer (after the KL guard fires: zero gradients and learning rate for the next optimizer step; "
     "its `train` clears the guard first)"),
    # transformers' Trainer, through GRPOTrainer and SFTTrainer: AtomicCheckpointsMixin, in all three trainers
    *(
        (trl_class, method, parameters, f"AtomicCheckpointsMixin ({why})")
        for trl_class in ("GRPOTrainer", "SFTTrainer")
        for method, parameters, why in (
            ("train", ("self", "resume_from_checkpoint", "trial", "ignore_keys_for_eval"),
             "True is the last complete checkpoint"),
            ("_save_checkpoint", ("self", "model", "trial"), "the save staged, renamed into place once complete"),
            ("_get_output_dir", ("self", "trial"), "names the staging folder while a save is staged"),
            ("_push_from_checkpoint", ("self", "checkpoint_folder"), "pushes the renamed folder"),
        )
    ),
)  # fmt: skip
"""(class name in `trl`, method, TRL's parameters, the override)."""

VLLM_SYNC_WALK = ("trl.generation.vllm_generation", "VLLMGeneration", "_iter_named_params", ("self",))
"""The (module, class, method, parameters) of TRL's walk over the policy's parameters for the vLLM weight sync, which
`ppo_trainer._sync_only_the_policy_to_vllm` wraps on the instance to leave the critic out: it must yield
`(name, tensor)` pairs under vLLM's names, and `sync_weights` must send only what it yields."""

GRPO_CONFIG_POST_INIT_SHA256 = "e833cd8d6b4619adbd1742442b546a96e2aef814e31c20b51f391670c6f8f940"
"""SHA-256 of the source of `trl.GRPOConfig.__post_init__` that `one_generation.grpo_post_init_one_generation_allowed`
was checked against (TRL 1.16.0)."""

TOKENIZE_PROMPTS_SHA256 = "d2d27f7c9bfda85f1c3225785fa2f09466c428803be6afa8a6c46290f7171a15"
"""SHA-256 of the source of `trl.GRPOTrainer._tokenize_prompts` (TRL 1.16.0) that `ContinuedPromptsMixin` was checked
against: its text path returns `(prompt_ids, None, {})`, uses `chat_template` only with tools, and reads `_is_vlm`,
`tools`, `environment_factories` and `chat_template_kwargs`."""

SAVE_CHECKPOINT_SHA256 = {
    "transformers.Trainer._save_checkpoint": "a9111e30faa9933986e022e56b5af81fd990356db64d727b4c320c852283bf3b",
    "trl.GRPOTrainer._save_checkpoint": "ec91bde1236491119dc68afed1d02f087b62b17f910521f8e4ba1360cc0b0e20",
    "trl.SFTTrainer._save_checkpoint": "b6ee0a370c266b6f6ada183d32719e4f689ac7a54086c1ec40a69a79e79921c6",
}
"""SHA-256 of the sources of the `_save_checkpoint` methods that `AtomicCheckpointsMixin` stages (transformers 5.24.0,
TRL 1.16.0): it relies on every checkpoint path being built from `_get_output_dir`, and redoes the best-checkpoint
record, the rotation and the Hub push after the rename."""
