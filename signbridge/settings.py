"""All configuration in one place.

Every setting has a default, an environment variable (``SIGNBRIDGE_*``; the S3
ones use the standard ``AWS_*`` names so any S3 client config carries over) and
may be overridden by a CLI flag. ``docs/configuration.md`` documents each one;
``tests/test_settings.py`` checks that the doc and this table agree.
"""
from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

from signbridge.errors import ConfigError


def default_home(env: Mapping[str, str] | None = None) -> str:
    """The per-user data directory (XDG: ``$XDG_DATA_HOME/signbridge``, else ``~/.local/share/signbridge``).

    Not the current directory: the store, its credentials and the Airflow state must be the same
    wherever a command runs, or a second store starts and collides with the first on its port.
    """
    env = os.environ if env is None else env
    base = env.get("XDG_DATA_HOME") or ""
    root = Path(base) if base and Path(base).is_absolute() else Path.home() / ".local" / "share"
    return str(root / "signbridge")


STAGES = ("extract", "recognize", "compose", "speak", "mux")


@dataclass(frozen=True)
class Setting:
    """One setting, declared once: the CLI flags, the DAG params, the task option mapping and the
    output fingerprint are all derived from these fields."""

    name: str
    env: str
    default: Any
    type: type
    help: str
    stage: str | None = None  # the stage it configures (None: the run's infrastructure)
    output: bool = False  # changes what a stage writes: part of the result folder's settings hash
    option: bool = False  # a per-run stage option: a flag of `process`/`run` and a DAG param
    choices: tuple[str, ...] | None = None
    minimum: float | None = None
    maximum: float | None = None
    flag: str | None = None  # CLI flag when it is not --name-with-dashes
    dataset: bool = False  # a flag of `dataset build` and a param of the signbridge_dataset DAG
    env_before: tuple[str, ...] = ()  # variables read before ``env`` (boto3's AWS_ENDPOINT_URL_S3 beats AWS_ENDPOINT_URL)
    env_fallback: tuple[str, ...] = ()  # variables read when ``env`` is unset (OPENAI_API_KEY for the LLM key)

    @property
    def cli_flag(self) -> str:
        return self.flag or "--" + self.name.replace("_", "-")

    @property
    def envs(self) -> tuple[str, ...]:
        """Every variable of the setting, the one that wins first."""
        return (*self.env_before, self.env, *self.env_fallback)


# name, env var, default, type, help. Kept as data so docs and tests can enumerate it.
_TABLE: list[Setting] = [
    Setting("home", "SIGNBRIDGE_HOME", None, str,
            "Working directory for the embedded object store, credentials, Airflow home and caches. Default: the per-user "
            "data directory, $XDG_DATA_HOME/signbridge or ~/.local/share/signbridge (`signbridge info` prints it)."),
    Setting("output", "SIGNBRIDGE_OUTPUT", "s3://signbridge/outputs", str,
            "Where results go: an s3://bucket/prefix or a local folder."),
    Setting("uploads", "SIGNBRIDGE_UPLOADS", "s3://signbridge/uploads", str,
            "Prefix the main command uploads local videos to, and the DAG watches."),
    Setting("results", "SIGNBRIDGE_RESULTS", "signbridge-results", str,
            "Local folder `signbridge process` copies a run's results into when its inputs were local files "
            "(relative to the current directory; `none`: no copy)."),
    Setting("store", "SIGNBRIDGE_STORE", "auto", str,
            "Which object store s3:// URIs mean: auto (an endpoint when one is set, else AWS S3 when the environment "
            "names an AWS identity: AWS_PROFILE, AWS_ACCESS_KEY_ID, a web-identity token or container credentials; "
            "else the embedded SeaweedFS, started when needed), s3 (the endpoint when set, else AWS S3 through "
            "boto3's credential chain: profile, SSO, instance role), embedded (always the embedded store). "
            "`signbridge info` says which one a run uses and why.",
            choices=("auto", "s3", "embedded")),
    Setting("s3_endpoint", "AWS_ENDPOINT_URL", None, str,
            "S3 endpoint (MinIO, Ceph, SeaweedFS, or an AWS endpoint); AWS_ENDPOINT_URL_S3 wins over AWS_ENDPOINT_URL, "
            "as in boto3. Unset: AWS S3 or the embedded store (see SIGNBRIDGE_STORE).",
            env_before=("AWS_ENDPOINT_URL_S3",)),
    Setting("s3_region", "AWS_DEFAULT_REGION", None, str,
            "S3 region. Unset: boto3's (the profile's region); us-east-1 for the embedded store."),
    Setting("s3_access_key", "AWS_ACCESS_KEY_ID", None, str,
            "S3 access key. Unset with the embedded store: the generated key in $SIGNBRIDGE_HOME/s3/credentials.json."),
    Setting("s3_secret_key", "AWS_SECRET_ACCESS_KEY", None, str, "S3 secret key (see AWS_ACCESS_KEY_ID)."),
    Setting("s3_path_style", "SIGNBRIDGE_S3_PATH_STYLE", None, bool,
            "Path-style addressing (http://host/bucket/key). Unset: path-style for an endpoint (SeaweedFS, MinIO, "
            "Ceph), virtual-hosted (https://bucket.s3.REGION.amazonaws.com/key) on AWS."),
    Setting("s3_multipart_mb", "SIGNBRIDGE_S3_MULTIPART_MB", 16, int,
            "Objects larger than this are uploaded in parts of this size."),
    Setting("s3_retries", "SIGNBRIDGE_S3_RETRIES", 5, int, "Attempts per S3 call (exponential backoff between them)."),
    Setting("s3_port", "SIGNBRIDGE_S3_PORT", 8333, int, "Port of the embedded SeaweedFS S3 API (127.0.0.1 only).",
            flag="--port"),
    Setting("cluster_port", "SIGNBRIDGE_CLUSTER_PORT", 8280, int,
            "Port of the local cluster's Airflow API server (`signbridge cluster up`, 127.0.0.1 only); "
            "its PostgreSQL and Redis use the next two ports.", flag="--port"),
    Setting("airflow_url", "SIGNBRIDGE_AIRFLOW_URL", None, str,
            "Airflow API server that `process --executor celery` submits runs to. Unset: the local cluster's."),
    Setting("airflow_user", "SIGNBRIDGE_AIRFLOW_USER", None, str,
            "User for SIGNBRIDGE_AIRFLOW_URL. Unset with the local cluster: its generated admin user."),
    Setting("airflow_password", "SIGNBRIDGE_AIRFLOW_PASSWORD", None, str,
            "Password for SIGNBRIDGE_AIRFLOW_USER. Unset with the local cluster: from $SIGNBRIDGE_HOME/cluster/secrets.json."),
    Setting("revise_wait", "SIGNBRIDGE_REVISE_WAIT", 120.0, float,
            "Seconds a render of a result folder (`revise`, the review page) waits for another render of the same "
            "folder to finish before it fails saying who holds it (a lease object in the store).", minimum=0),
    Setting("fps", "SIGNBRIDGE_FPS", 15.0, float,
            "Frames per second sampled for landmark extraction (0 = every frame).",
            stage="extract", output=True, option=True, minimum=0, dataset=True),
    Setting("max_side", "SIGNBRIDGE_MAX_SIDE", 640, int,
            "Frames are downscaled so the longer side is at most this many pixels before MediaPipe.",
            stage="extract", output=True, option=True, minimum=64, dataset=True),
    Setting("workers", "SIGNBRIDGE_WORKERS", 0, int,
            "Parallel worker processes for extraction (0 = number of CPU cores).", minimum=0, dataset=True),
    Setting("chunk_seconds", "SIGNBRIDGE_CHUNK_SECONDS", 60.0, float,
            "Videos longer than this are extracted in chunks of this many seconds (one Airflow task each).",
            stage="extract", output=True, option=True, minimum=5),
    Setting("batch_seconds", "SIGNBRIDGE_BATCH_SECONDS", 120.0, float,
            "Short videos are packed into extraction tasks of about this many seconds of video each.",
            stage="extract"),
    Setting("face", "SIGNBRIDGE_FACE", "full", str,
            "Face landmarks kept: full (468-point mesh), reduced (mouth and eyebrows only, NaN elsewhere) or none (the face model is not run).",
            stage="extract", output=True, option=True, choices=("full", "reduced", "none"), dataset=True),
    Setting("dataset_validation", "SIGNBRIDGE_DATASET_VALIDATION", 0.1, float,
            "`dataset build`: share of videos aimed at for the validation split when the labels file names signers "
            "(splits are signer-disjoint).", minimum=0, maximum=0.5, flag="--validation-share", dataset=True),
    Setting("dataset_test", "SIGNBRIDGE_DATASET_TEST", 0.1, float,
            "`dataset build`: share of videos aimed at for the test split when the labels file names signers.",
            minimum=0, maximum=0.5, flag="--test-share", dataset=True),
    Setting("extractor", "SIGNBRIDGE_EXTRACTOR", "cpu", str,
            "Landmark extractor: cpu (MediaPipe's own graph, one process per core) or gpu (the same Holistic models "
            "in PyTorch, batched across videos on SIGNBRIDGE_DEVICE; docs/extraction.md says when to choose which).",
            stage="extract", output=True, option=True, choices=("cpu", "gpu"), dataset=True),
    Setting("gpu_streams", "SIGNBRIDGE_GPU_STREAMS", 0, int,
            "GPU extractor: chunks decoded and batched at once, one ffmpeg each (0 = 8 per CPU core, at least 32).",
            minimum=0, dataset=True),
    Setting("gpu_precision", "SIGNBRIDGE_GPU_PRECISION", "fp32", str,
            "GPU extractor: the models' arithmetic. fp32 (the default, measured against MediaPipe) or fp16 (as "
            "MediaPipe's own GPU graph runs them; channels-last on a GPU; landmarks differ slightly, so the outputs "
            "are new ones). bf16 was measured and left out: it loses hand detections.",
            stage="extract", output=True, choices=("fp32", "fp16"), dataset=True),
    Setting("device", "SIGNBRIDGE_DEVICE", "auto", str,
            "Torch device for recognition and for the GPU extractor: auto (CUDA/ROCm when present, else CPU), cpu, "
            "cuda, cuda:N.",
            stage="recognize", option=True, dataset=True),
    Setting("batch_size", "SIGNBRIDGE_BATCH_SIZE", 256, int, "Spans per forward pass in recognition."),
    Setting("checkpoint", "SIGNBRIDGE_CHECKPOINT", None, str,
            "Recogniser model directory. Unset: the checkpoint shipped inside the package.",
            stage="recognize", output=True),
    Setting("recognize_threads", "SIGNBRIDGE_RECOGNIZE_THREADS", 1, int,
            "Torch CPU threads for recognition (0 = torch default). 1 is fastest on small or shared CPUs.",
            flag="--threads"),
    Setting("min_confidence", "SIGNBRIDGE_MIN_CONFIDENCE", None, float,
            "Override of the calibrated cut-off: spans whose top probability is below this are labelled UNKNOWN "
            "(their top-k is kept). Unset: the checkpoint's calibration.json thresholds.",
            stage="recognize", output=True, option=True, minimum=0, maximum=1),
    Setting("vocabulary", "SIGNBRIDGE_VOCABULARY", None, str,
            "Word list (vocabulary hint): a UTF-8 text file or s3:// object, one word or gloss per line, # comments. "
            "Recognition then shows only these glosses (English words map through spelling variants and same-sign "
            "groups), at cut-offs fitted for lists of that size. A sidecar <video>.vocab.txt beside a video wins.",
            stage="recognize", option=True),
    Setting("script", "SIGNBRIDGE_SCRIPT", None, str,
            "Script: the words signed in order (one per line) or the English sentences; it is aligned to the signing "
            "and the captions show its text, timed to the signs. A sidecar <video>.script.txt beside a video wins.",
            stage="recognize", option=True),
    Setting("recognizer", "SIGNBRIDGE_RECOGNIZER", "classifier", str,
            "What decides each sign span: classifier (the shipped landmark model), vlm (a vision-language model "
            "scores the candidate words on a few frames of the span, read again from the video) or hybrid (the "
            "classifier, and the VLM for the spans the classifier leaves unclear). vlm and hybrid need "
            "SIGNBRIDGE_VLM_MODEL; their words are never shown plain (not calibrated).",
            stage="recognize", output=True, option=True, choices=("classifier", "vlm", "hybrid")),
    Setting("vlm_model", "SIGNBRIDGE_VLM_MODEL", None, str,
            "Vision-language model for --recognizer vlm/hybrid: a local folder or a Hugging Face hub id "
            "(Qwen2-VL, Qwen2.5-VL or Qwen3-VL, e.g. Qwen/Qwen3-VL-8B-Instruct; an id not in the HF cache is "
            "downloaded unless HF_HUB_OFFLINE is set).",
            stage="recognize", output=True, option=True),
    Setting("vlm_frames", "SIGNBRIDGE_VLM_FRAMES", 4, int,
            "Frames of each sign span the VLM sees (evenly spread over the span).",
            stage="recognize", output=True, minimum=1, maximum=32),
    Setting("vlm_image_side", "SIGNBRIDGE_VLM_IMAGE_SIDE", 448, int,
            "Longer side in pixels of the frames given to the VLM (never upscaled here; the model's image "
            "processor may still resize to its own limits).",
            stage="recognize", output=True, minimum=32),
    Setting("vlm_min_confidence", "SIGNBRIDGE_VLM_MIN_CONFIDENCE", 0.5, float,
            "Shown cut-off of the VLM recogniser: a span whose top candidate has at least this probability (over "
            "the candidates) is shown with the uncertainty marker, else it is [unclear sign]. A fixed value, not "
            "fitted on any data: the VLM is not calibrated, so it never shows a plain word.",
            stage="recognize", output=True, minimum=0, maximum=1),
    Setting("vlm_batch_size", "SIGNBRIDGE_VLM_BATCH_SIZE", 8, int,
            "Sign spans per VLM forward pass (GPU memory grows with it; see docs/model_card.md).", minimum=1),
    Setting("composer", "SIGNBRIDGE_COMPOSER", "rules", str, "Sentence composer backend: rules, local or vllm.",
            stage="compose", output=True, option=True, choices=("rules", "local", "vllm")),
    Setting("llm_model", "SIGNBRIDGE_LLM_MODEL", None, str,
            "Model for the composer: a local path or HF id for vllm, a GGUF path for local. Unset: backend default.",
            stage="compose", output=True, option=True),
    Setting("llm_url", "SIGNBRIDGE_LLM_URL", None, str,
            "OpenAI-compatible endpoint (vllm serve). Set: the vllm backend calls it instead of loading the model in process."),
    Setting("llm_api_key", "SIGNBRIDGE_LLM_API_KEY", None, str,
            "API key for SIGNBRIDGE_LLM_URL, sent as `Authorization: Bearer KEY` (`vllm serve --api-key KEY`); "
            "OPENAI_API_KEY when unset. Never written to outputs or logs.", env_fallback=("OPENAI_API_KEY",)),
    Setting("tts", "SIGNBRIDGE_TTS", "piper", str, "Narration backend: piper, espeak or xtts.",
            stage="speak", output=True, option=True, choices=("piper", "espeak", "xtts")),
    Setting("tts_voice", "SIGNBRIDGE_TTS_VOICE", None, str,
            "Voice: a piper .onnx path, an espeak voice name, or an XTTS reference clip. Unset: backend default.",
            stage="speak", output=True, option=True, flag="--voice"),
    Setting("xtts_model_dir", "SIGNBRIDGE_XTTS_MODEL_DIR", None, str, "Local Coqui XTTS-v2 model directory (GPU extra).",
            stage="speak", output=True),
    Setting("burn_captions", "SIGNBRIDGE_BURN_CAPTIONS", False, bool,
            "Draw captions into the picture (re-encodes the video) instead of soft subtitles.",
            stage="mux", output=True, option=True),
    Setting("original_audio", "SIGNBRIDGE_ORIGINAL_AUDIO", "track", str,
            "What happens to the video's own audio: track (second audio track), duck (mixed under the narration) or drop.",
            stage="mux", output=True, option=True, choices=("track", "duck", "drop")),
    Setting("low_confidence_marker", "SIGNBRIDGE_LOW_CONFIDENCE_MARKER", "(?)", str,
            "Appended in captions to words from low-confidence signs. Empty string disables it.",
            stage="speak", output=True),
    Setting("low_confidence", "SIGNBRIDGE_LOW_CONFIDENCE", 0.6, float,
            "Signs recognised with a probability below this are low-confidence: their caption words get the marker "
            "and their sentence is marked uncertain.",
            stage="compose", output=True),
    Setting("language", "SIGNBRIDGE_LANGUAGE", "eng", str, "ISO 639-2 language tag of captions and narration.",
            stage="speak", output=True, option=True),
    Setting("live_fps", "SIGNBRIDGE_LIVE_FPS", 15.0, float,
            "`signbridge live`: frames per second taken from the source; when landmarks fall behind, the newest "
            "frame wins and the others are dropped.", minimum=1, maximum=60),
    Setting("live_max_side", "SIGNBRIDGE_LIVE_MAX_SIDE", 480, int,
            "`signbridge live`: frames are downscaled so the longer side is at most this many pixels.", minimum=64),
    Setting("live_hold_ms", "SIGNBRIDGE_LIVE_HOLD_MS", 300.0, float,
            "`signbridge live`: how long the hands must rest, or hold still, before a sign counts as ended "
            "(the endpointing hold; every caption waits this long after its sign).", minimum=50, maximum=2000,
            flag="--hold-ms"),
    Setting("live_timeout_s", "SIGNBRIDGE_LIVE_TIMEOUT_S", 15.0, float,
            "`signbridge live`: seconds without a frame, at the start or mid-stream, after which the source "
            "counts as lost (one error line; the captions so far are kept).", minimum=1, flag="--source-timeout"),
    Setting("log_level", "SIGNBRIDGE_LOG_LEVEL", "INFO", str, "Logging level."),
]

SETTINGS_TABLE: tuple[Setting, ...] = tuple(_TABLE)
STAGE_OPTIONS: tuple[Setting, ...] = tuple(s for s in SETTINGS_TABLE if s.option)
DATASET_OPTIONS: tuple[Setting, ...] = tuple(s for s in SETTINGS_TABLE if s.dataset)


_JSON_TYPES = {float: "number", int: "integer", str: "string", bool: "boolean"}


def setting(name: str) -> Setting:
    return next(s for s in SETTINGS_TABLE if s.name == name)


def param_schema(s: Setting) -> dict[str, Any]:
    """The JSON-schema keywords of a stage option's DAG param (empty = the workers' environment decides)."""
    out: dict[str, Any] = {"type": ["null", _JSON_TYPES[s.type]],
                           "description": f"{s.stage}: {s.help}" if s.stage else s.help}
    if s.choices:
        out["enum"] = [None, *s.choices]
    if s.minimum is not None:
        out["minimum"] = s.minimum
    if s.maximum is not None:
        out["maximum"] = s.maximum
    return out


def _parse(s: Setting, raw: str) -> Any:
    try:
        if s.type is bool:
            v = raw.strip().lower()
            if v in ("1", "true", "yes", "on"):
                return True
            if v in ("0", "false", "no", "off", ""):
                return False
            raise ValueError(raw)
        return s.type(raw)
    except ValueError:
        raise ConfigError(f"{s.env}={raw!r} is not a valid {s.type.__name__}", hint=s.help) from None


@dataclass(frozen=True)
class Settings:
    home: str = ""
    output: str = "s3://signbridge/outputs"
    uploads: str = "s3://signbridge/uploads"
    results: str = "signbridge-results"
    store: str = "auto"
    s3_endpoint: str | None = None
    s3_region: str | None = None
    s3_access_key: str | None = None
    s3_secret_key: str | None = None
    s3_path_style: bool | None = None
    s3_multipart_mb: int = 16
    s3_retries: int = 5
    s3_port: int = 8333
    cluster_port: int = 8280
    airflow_url: str | None = None
    airflow_user: str | None = None
    airflow_password: str | None = None
    revise_wait: float = 120.0
    fps: float = 15.0
    max_side: int = 640
    workers: int = 0
    chunk_seconds: float = 60.0
    batch_seconds: float = 120.0
    face: str = "full"
    dataset_validation: float = 0.1
    dataset_test: float = 0.1
    extractor: str = "cpu"
    gpu_streams: int = 0
    gpu_precision: str = "fp32"
    device: str = "auto"
    batch_size: int = 256
    checkpoint: str | None = None
    recognize_threads: int = 1
    min_confidence: float | None = None
    vocabulary: str | None = None
    script: str | None = None
    recognizer: str = "classifier"
    vlm_model: str | None = None
    vlm_frames: int = 4
    vlm_image_side: int = 448
    vlm_min_confidence: float = 0.5
    vlm_batch_size: int = 8
    composer: str = "rules"
    llm_model: str | None = None
    llm_url: str | None = None
    llm_api_key: str | None = field(default=None, repr=False)  # a secret: kept out of reprs and logs
    tts: str = "piper"
    tts_voice: str | None = None
    xtts_model_dir: str | None = None
    burn_captions: bool = False
    original_audio: str = "track"
    low_confidence_marker: str = "(?)"
    low_confidence: float = 0.6
    language: str = "eng"
    live_fps: float = 15.0
    live_max_side: int = 480
    live_hold_ms: float = 300.0
    live_timeout_s: float = 15.0
    log_level: str = "INFO"
    extra: Mapping[str, Any] = field(default_factory=dict)

    @property
    def home_path(self) -> Path:
        return Path(self.home)

    def replace(self, **changes: Any) -> "Settings":
        changes = {k: v for k, v in changes.items() if v is not None}
        return dataclasses.replace(self, **changes)

    def validate(self) -> "Settings":
        for s in SETTINGS_TABLE:
            if s.choices and getattr(self, s.name) not in s.choices:
                raise ConfigError(f"{s.env}={getattr(self, s.name)!r} is not one of {', '.join(s.choices)}")
            if getattr(self, s.name) is None:  # unset optional setting: nothing to bound
                continue
            if s.minimum is not None and getattr(self, s.name) < s.minimum:
                raise ConfigError(f"{s.env}={getattr(self, s.name)} must be >= {s.minimum:g}")
            if s.maximum is not None and getattr(self, s.name) > s.maximum:
                raise ConfigError(f"{s.env}={getattr(self, s.name)} must be <= {s.maximum:g}")
        if self.dataset_validation + self.dataset_test >= 1:
            raise ConfigError(f"SIGNBRIDGE_DATASET_VALIDATION + SIGNBRIDGE_DATASET_TEST = "
                              f"{self.dataset_validation + self.dataset_test:g} leaves nothing to train on")
        if self.batch_seconds <= 0:
            raise ConfigError(f"SIGNBRIDGE_BATCH_SECONDS={self.batch_seconds} must be > 0")
        return self


def load_settings(env: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
    """Defaults < environment < explicit overrides (CLI flags)."""
    env = os.environ if env is None else env
    values: dict[str, Any] = {}
    for s in SETTINGS_TABLE:
        var = next((v for v in s.envs if env.get(v)), s.env)
        raw = env.get(var)
        if raw is not None and raw != "":
            values[s.name] = _parse(s if var == s.env else dataclasses.replace(s, env=var), raw)
        elif s.default is not None:
            values[s.name] = s.default
    values.update({k: v for k, v in overrides.items() if v is not None})
    if not values.get("home"):
        values["home"] = default_home(env)
    values["home"] = str(Path(values["home"]).expanduser().resolve())
    return Settings(**values).validate()
