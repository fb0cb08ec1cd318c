"""What a simulated server has installed for serving a model (``fake/serving.py``):

* ``usr/local/bin/vllm`` (on the session's PATH) -> ``fake/vllm_cli.py``;
* MindIE Service in ``usr/local/Ascend/mindie/latest/mindie-service``: ``bin/mindieservice_daemon``
  -> ``fake/mindie_daemon.py`` and ``conf/config.json`` (mode 640: MindIE's defaults, except
  TLS and https off since the sim has no certificates, single-server until the console switches
  ``multiNodesInferEnabled`` on);
* the model weights that config names, ``data/weights/ccsim-model`` (folder 750, ``config.json``
  640, as MindIE requires);
* the four ``set_env.sh`` files operators source (CANN toolkit, ATB, ATB-Models, MindIE), which
  export the variables the real ones export, pointing into the server's root.

Paths inside ``config.json`` are the real absolute paths; the fakes read them under
``$CLUSTER_CONSOLE_ROOT`` (``serving.on_server``).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from console.sim.spec import ClusterSpec, ServerSpec

MINDIE_HOME = "usr/local/Ascend/mindie/latest/mindie-service"
MINDIE_CONFIG = f"{MINDIE_HOME}/conf/config.json"
MODEL_NAME = "ccsim-model"
WEIGHTS = f"/data/weights/{MODEL_NAME}"


def serve_state(spec: ClusterSpec, srv: ServerSpec) -> dict[str, Any]:
    """The ``serve`` part of a server's state JSON (faults the serving fakes play)."""
    no_join = any(spec.server(f.server) is srv for f in spec.dynamic_faults("serve_no_join"))
    crash = [f.after for f in spec.dynamic_faults("serve_crash")]
    return {"no_join": no_join, "crash_after": min(crash) if crash else None}


def set_env_files(root: Path) -> dict[str, str]:
    """Relative path -> content of the set_env.sh files."""
    base = f"{root}/usr/local/Ascend"
    return {
        "usr/local/Ascend/ascend-toolkit/set_env.sh": f"export ASCEND_TOOLKIT_HOME={base}/ascend-toolkit/latest\n"
        "export ASCEND_HOME_PATH=$ASCEND_TOOLKIT_HOME\n",
        "usr/local/Ascend/nnal/atb/set_env.sh": f"export ATB_HOME_PATH={base}/nnal/atb/latest/atb/cxx_abi_1\n",
        "usr/local/Ascend/atb-models/set_env.sh": f"export ATB_SPEED_HOME_PATH={base}/atb-models\n",
        "usr/local/Ascend/mindie/set_env.sh": f"export MIES_INSTALL_PATH={base}/mindie/latest/mindie-service\n",
    }


def mindie_config(srv: ServerSpec) -> dict[str, Any]:
    devices = sorted(d.device_id for d in srv.devices)
    return {
        "Version": "1.0.0",
        "ServerConfig": {
            "ipAddress": "127.0.0.1",
            "managementIpAddress": "127.0.0.2",
            "port": 1025,
            "managementPort": 1026,
            "metricsPort": 1027,
            "allowAllZeroIpListening": False,
            "maxLinkNum": 1000,
            "httpsEnabled": False,
            "fullTextEnabled": False,
            "tlsCaPath": "security/ca/",
            "tlsCaFile": ["ca.pem"],
            "tlsCert": "security/certs/server.pem",
            "tlsPk": "security/keys/server.key.pem",
            "tlsPkPwd": "security/pass/key_pwd.txt",
            "inferMode": "standard",
            "interCommTLSEnabled": False,
            "interCommPort": 1121,
            "interCommTlsCaPath": "security/grpc/ca/",
            "interCommTlsCaFiles": ["ca.pem"],
            "interCommTlsCert": "security/grpc/certs/server.pem",
            "interCommPk": "security/grpc/keys/server.key.pem",
            "openAiSupport": "vllm",
            "tokenTimeout": 600,
            "e2eTimeout": 600,
            "distDPServerEnabled": False,
        },
        "BackendConfig": {
            "backendName": "mindieservice_llm_engine",
            "modelInstanceNumber": 1,
            "npuDeviceIds": [devices],
            "tokenizerProcessNumber": 8,
            "multiNodesInferEnabled": False,
            "multiNodesInferPort": 1120,
            "interNodeTLSEnabled": False,
            "interNodeTlsCaPath": "security/grpc/ca/",
            "interNodeTlsCaFiles": ["ca.pem"],
            "interNodeTlsCert": "security/grpc/certs/server.pem",
            "interNodeTlsPk": "security/grpc/keys/server.key.pem",
            "interNodeTlsPkPwd": "security/grpc/pass/mindie_server_key_pwd.txt",
            "ModelDeployConfig": {
                "maxSeqLen": 2560,
                "maxInputTokenLen": 2048,
                "truncation": False,
                "ModelConfig": [
                    {
                        "modelInstanceType": "Standard",
                        "modelName": MODEL_NAME,
                        "modelWeightPath": WEIGHTS,
                        "worldSize": len(devices),
                        "cpuMemSize": 5,
                        "npuMemSize": -1,
                        "backendType": "atb",
                        "trustRemoteCode": False,
                    }
                ],
            },
            "ScheduleConfig": {
                "templateType": "Standard",
                "templateName": "Standard_LLM",
                "cacheBlockSize": 128,
                "maxPrefillBatchSize": 50,
                "maxPrefillTokens": 8192,
                "maxBatchSize": 200,
                "maxIterTimes": 512,
            },
        },
    }


def write_serving(srv: ServerSpec, root: Path, write_file: Any, write_tool: Any, state_path: Path) -> None:
    """Install the serving fakes, MindIE's folder and config, weights and set_env files."""
    for rel, text in set_env_files(root).items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        write_file(root / rel, text)
    (root / "usr/local/Ascend/atb-models").mkdir(parents=True, exist_ok=True)
    for sub in ("bin", "conf", "logs"):
        (root / MINDIE_HOME / sub).mkdir(parents=True, exist_ok=True)
    write_tool(root / MINDIE_HOME / "bin/mindieservice_daemon", "mindie_daemon", state_path)
    write_file(root / MINDIE_CONFIG, json.dumps(mindie_config(srv), indent=4) + "\n", 0o640)
    weights = root / WEIGHTS.lstrip("/")
    weights.mkdir(parents=True, exist_ok=True)
    weights.chmod(0o750)
    write_file(
        weights / "config.json",
        json.dumps({"model_type": "qwen2", "num_hidden_layers": 2, "torch_dtype": "float16"}) + "\n",
        0o640,
    )
    write_tool(root / "usr/local/bin/vllm", "vllm_cli", state_path)
