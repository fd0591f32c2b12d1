"""Candidate scoring with a Qwen-VL model: the log-likelihood of every candidate answer, never free text.

For a batch of prompts (frames + question) the model runs once over the prompts (the prefill, which keeps
its key/value cache), then once over *all* candidates packed into one sequence per prompt: the distinct
prefixes of the candidates' token sequences form a trie, each trie node is one packed token, and a 4-D
attention mask lets each node see the prompt and its own ancestors only. That costs one forward pass over
the trie's nodes instead of one per candidate, and the prompt's cache is read, never copied per candidate.
Each candidate's score is ``log P(answer tokens + end-of-turn | prompt)``; the end token is part of the
answer so that a word is not rewarded for being the prefix of a longer one (*no* inside *nothing*).

Only torch and numpy are needed here (the GPU benchmark imports this module on a bare machine). The packed
pass relies on what Qwen2-VL, Qwen2.5-VL and Qwen3-VL share in transformers: explicit 3-D (M-RoPE) position
ids, a custom 4-D mask taken as given, and ``rope_deltas`` left on the model by the prefill.
"""
from __future__ import annotations

import inspect
from dataclasses import dataclass
from typing import Any, Mapping, Sequence

import numpy as np

FAMILIES = ("qwen2_vl", "qwen2_5_vl", "qwen3_vl")
LOGIT_ROWS = 2048  # vocabulary projections computed at once (rows x vocab floats: ~1.2 GB at Qwen's 152k)


@dataclass(frozen=True)
class PackedCandidates:
    """Candidates' token sequences as a trie, ready for one packed forward pass.

    ``node_tokens[i]`` is the token fed at trie node i (the last token of a proper prefix), at position
    ``depth[i]`` after the prompt; ``ancestors`` (T, T) says which nodes node i sees (itself included).
    ``first`` (C,) is each candidate's first token (scored from the prompt's last position);
    ``steps`` (C, L) lists, for each later token, the index into ``pair_node``/``pair_token`` (-1: none).
    """

    node_tokens: np.ndarray
    depth: np.ndarray
    ancestors: np.ndarray
    first: np.ndarray
    pair_node: np.ndarray
    pair_token: np.ndarray
    steps: np.ndarray

    @property
    def n_nodes(self) -> int:
        return int(self.node_tokens.size)


def pack_candidates(candidates: Sequence[Sequence[int]]) -> PackedCandidates:
    """The trie of ``candidates`` (token id lists, each already ending with the end-of-turn token)."""
    if not candidates or any(len(c) == 0 for c in candidates):
        raise ValueError("every candidate needs at least one token")
    node_of: dict[tuple[int, ...], int] = {}
    tokens, depth, parent = [], [], []
    pair_of: dict[tuple[int, int], int] = {}
    pair_node, pair_token = [], []
    longest = max(len(c) for c in candidates)
    steps = np.full((len(candidates), max(1, longest - 1)), -1, np.int64)
    for ci, cand in enumerate(candidates):
        cand = tuple(int(t) for t in cand)
        for k in range(1, len(cand)):  # node for the prefix cand[:k] predicts cand[k]
            prefix = cand[:k]
            if prefix not in node_of:
                node_of[prefix] = len(tokens)
                tokens.append(prefix[-1])
                depth.append(k - 1)
                parent.append(node_of[prefix[:-1]] if k > 1 else -1)
            key = (node_of[prefix], cand[k])
            if key not in pair_of:
                pair_of[key] = len(pair_node)
                pair_node.append(key[0])
                pair_token.append(key[1])
            steps[ci, k - 1] = pair_of[key]
    n = len(tokens)
    anc = np.zeros((n, n), bool)
    for i in range(n):
        j = i
        while j >= 0:
            anc[i, j] = True
            j = parent[j]
    return PackedCandidates(node_tokens=np.asarray(tokens, np.int64), depth=np.asarray(depth, np.int64),
                            ancestors=anc, first=np.asarray([int(c[0]) for c in candidates], np.int64),
                            pair_node=np.asarray(pair_node, np.int64), pair_token=np.asarray(pair_token, np.int64),
                            steps=steps)


def accepts(fn, name: str) -> bool:
    """Whether ``fn`` takes a keyword ``name`` (transformers versions differ in what Qwen-VL's forward takes)."""
    try:
        return name in inspect.signature(fn).parameters
    except (TypeError, ValueError):
        return False


def _lse_rows(h, head, rows: int = LOGIT_ROWS):
    """log-sum-exp of the vocabulary logits of each row of ``h`` (N, H), a chunk of rows at a time."""
    import torch

    out = torch.empty(h.shape[0], dtype=torch.float32, device=h.device)
    for s in range(0, h.shape[0], rows):
        out[s:s + rows] = torch.logsumexp(head(h[s:s + rows]).float(), dim=-1)
    return out


def score_batch(model, inputs: Mapping[str, Any], packed: PackedCandidates) -> np.ndarray:
    """(B, C) log-likelihood of every candidate answer after each of the B prompts in ``inputs``.

    ``inputs``: the prompt tensors on the model's device (``input_ids``, ``attention_mask`` with left padding,
    ``pixel_values``, ``image_grid_thw`` and, where the model takes it, ``mm_token_type_ids``).
    Long because the prefill, the packed pass and the gathering share their tensors; each step is commented.
    """
    import torch

    backbone, head = model.model, model.get_output_embeddings()
    ids, mask2d = inputs["input_ids"], inputs["attention_mask"]
    dev, b, p = ids.device, ids.shape[0], ids.shape[1]
    # 1. prefill: the prompts (frames + question); keep the cache and each prompt's M-RoPE offset
    backbone.rope_deltas = None
    out = backbone(**inputs, use_cache=True, return_dict=True)
    cache, last = out.past_key_values, out.last_hidden_state[:, -1]
    deltas = backbone.rope_deltas
    if deltas is None:
        raise RuntimeError(f"{type(backbone).__name__} left no rope_deltas after the prefill")
    first_lp = torch.log_softmax(head(last).float(), dim=-1)[:, torch.as_tensor(packed.first, device=dev)]
    n = packed.n_nodes
    if n == 0:  # every candidate is one token long
        return first_lp.cpu().numpy()
    # 2. packed pass: every trie node after every prompt, each node seeing the prompt and its ancestors
    dtype = out.last_hidden_state.dtype
    block = torch.finfo(dtype).min
    seen = torch.zeros(b, 1, n, p + n, dtype=dtype, device=dev)
    seen[:, 0, :, :p] = torch.where(mask2d[:, None, :].bool(), 0.0, block).to(dtype)
    anc = torch.as_tensor(packed.ancestors, device=dev)
    seen[:, 0, :, p:] = torch.where(anc, 0.0, block).to(dtype)
    start = mask2d.sum(-1, keepdim=True) + deltas.to(dev).reshape(b, 1)  # next text position of each prompt
    pos = (start + torch.as_tensor(packed.depth, device=dev)[None]).long()
    node_ids = torch.as_tensor(packed.node_tokens, device=dev)[None].expand(b, n)
    hid = backbone(input_ids=node_ids, attention_mask=seen, position_ids=pos[None].expand(3, b, n),
                   past_key_values=cache, use_cache=True, return_dict=True).last_hidden_state
    del cache, out, seen
    # 3. log P(token | node) for each (node, next token) pair the candidates use
    flat = hid.reshape(b * n, -1)
    lse = _lse_rows(flat, head).reshape(b, n)
    pn = torch.as_tensor(packed.pair_node, device=dev)
    pt = torch.as_tensor(packed.pair_token, device=dev)
    w = head.weight[pt]  # (pairs, H)
    pair_logit = torch.einsum("bph,ph->bp", hid[:, pn].float(), w.float())
    if getattr(head, "bias", None) is not None:
        pair_logit = pair_logit + head.bias[pt].float()
    pair_lp = pair_logit - lse[:, pn]
    # 4. each candidate: first token + its later tokens (padding steps add 0)
    padded = torch.cat([pair_lp, torch.zeros(b, 1, device=dev)], dim=1)
    steps = torch.as_tensor(packed.steps, device=dev)
    steps = torch.where(steps < 0, pair_lp.shape[1], steps)
    total = first_lp + padded[:, steps].sum(-1)
    return total.cpu().numpy()


def candidate_probs(loglik: np.ndarray) -> np.ndarray:
    """Log-likelihoods (B, C) -> probabilities over the candidates (the model's answer restricted to them)."""
    z = loglik - loglik.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)
