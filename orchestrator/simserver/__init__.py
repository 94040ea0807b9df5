"""`orchestrate sim-server`: the embedded SGLang simulator served over real HTTP.

SGLang 0.5.23's native protocol field for field (`/generate`, `/abort_request`, `/health`, `/ready`,
`/server_info`, `/model_info`, `/flush_cache`, `/tokenize`, `/metrics`), its OpenAI-compatible routes
(`/v1/models`, `/v1/completions`, `/v1/chat/completions`), and fault injection (`Faults`), for
testing real HTTP clients without a GPU. Everything it serves is a simulator's: every response
carries `x-simulated: true`, and `/server_info` and `/metrics` say so.

    async with SimServer(SimConfig(time_scale=0)) as server:
        ...  # POST f"{server.url}/generate"
"""

from orchestrator.simserver.app import SimServer, serve
from orchestrator.simserver.faults import Faults

__all__ = ["Faults", "SimServer", "serve"]
