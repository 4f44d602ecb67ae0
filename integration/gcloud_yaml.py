"""Reads manifests exactly as `gcloud run services replace FILE` (and `run jobs replace`) does.

For the gate's parser differential (integration/parser_differential.rs). Run with gcloud's
bundled Python; it finds gcloud's libraries as gcloud.py does (lib/ and lib/third_party/ of the SDK
root: CLOUDSDK_ROOT_DIR, else /usr/lib/google-cloud-sdk).

Input: JSON lines on stdin, {"id": N, "text_b64": "..."}: one manifest file each.
Output: one JSON line per input on stdout, in order:

    {"id": N, "objects": [OBJECT] or [], "error": "..." or null}

Each input is written to a temporary file and read by gcloud's own FILE argument type,
googlecloudsdk.calliope.arg_parsers.YAMLFileContents (the `type=` of replace's FILE): files.FileReader
(UTF-8, universal newlines), googlecloudsdk.core.yaml.load_all_path (ruamel.yaml's SafeLoader forced
to YAML 1.1), empty documents dropped, exactly one document kept, else the single-document loader's
error. `replace` then takes `dict(args.FILE)` (anything but a mapping is an error here), drops
`status`, makes a non-string metadata.namespace a string and converts the dict to the Cloud Run
v1 API message with messages_util.DictToMessageWithErrorCheck (a Job for `kind: Job`, as `run jobs
replace`; else a Service): a value of the wrong type or an unknown field is an error, and gcloud
sends nothing. What is printed is the object as loaded (before those steps), when they pass.

Values are given faithfully, so that a difference with the gate is visible, not hidden:
strings, booleans, null, integers and finite floats as JSON; anything else tagged:
{"$type": "float", "value": "inf"}, {"$type": "timestamp", "value": ISO},
{"$type": "binary", "base64": ...}, {"$type": "set", "items": [...]},
{"$type": "surrogates", "value": ESCAPED} for a string with a lone surrogate,
{"$type": "map", "entries": [[KEY, VALUE], ...]} for a mapping with a key that is not a string,
{"$type": "pairs", "items": [[KEY, VALUE], ...]} for !!omap / !!pairs, {"$type": "python", "repr": ...}.
"""

import base64
import datetime
import json
import math
import os
import sys
import tempfile
import warnings

_ROOT = os.environ.get("CLOUDSDK_ROOT_DIR", "/usr/lib/google-cloud-sdk")
sys.path[:0] = [os.path.join(_ROOT, "lib"), os.path.join(_ROOT, "lib", "third_party")]

from googlecloudsdk.api_lib.util import apis  # noqa: E402 (after the path, as gcloud.py)
from googlecloudsdk.api_lib.util import messages as messages_util  # noqa: E402
from googlecloudsdk.calliope import arg_parsers  # noqa: E402


def is_text(value):
    """A str that is Unicode text (no lone surrogates), as JSON can carry it."""
    if not isinstance(value, str):
        return False
    try:
        value.encode("utf-8")
        return True
    except UnicodeEncodeError:
        return False


def faithful(value):
    """A JSON-able rendering of what ruamel.yaml gave, tagging anything JSON has no word for."""
    if value is None or isinstance(value, bool) or is_text(value):
        return value
    if isinstance(value, str):
        return {"$type": "surrogates",
                "value": value.encode("utf-8", "backslashreplace").decode("ascii", "backslashreplace")}
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        if math.isfinite(value):
            return value
        return {"$type": "float", "value": repr(value)}
    if isinstance(value, (datetime.datetime, datetime.date)):
        return {"$type": "timestamp", "value": value.isoformat()}
    if isinstance(value, (bytes, bytearray)):
        return {"$type": "binary", "base64": base64.b64encode(bytes(value)).decode("ascii")}
    if isinstance(value, dict):
        if all(is_text(k) for k in value):
            return {k: faithful(v) for k, v in value.items()}
        return {"$type": "map", "entries": [[faithful(k), faithful(v)] for k, v in value.items()]}
    if isinstance(value, (set, frozenset)):
        return {"$type": "set", "items": sorted((faithful(v) for v in value), key=repr)}
    if isinstance(value, tuple):
        return {"$type": "tuple", "items": [faithful(v) for v in value]}
    if isinstance(value, list):
        if value and all(isinstance(v, tuple) and len(v) == 2 for v in value):
            return {"$type": "pairs", "items": [[faithful(k), faithful(v)] for k, v in value]}
        return [faithful(v) for v in value]
    return {"$type": "python", "repr": repr(value)}


def read(path, file_type, run_messages):
    """What gcloud run services (or jobs) replace reads from path: ([object], None) or ([], error)."""
    try:
        data = file_type(path)
    except Exception as error:  # gcloud reports every one of these and deploys nothing
        return [], "{}: {}".format(type(error).__name__, error)
    if not isinstance(data, dict):
        return [], "not a mapping: replace takes dict(FILE) of a {}".format(type(data).__name__)
    loaded = faithful(data)
    # As surface/run/services/replace.py and surface/run/jobs/replace.py do next.
    try:
        message_dict = dict(data)
        message_dict.pop("status", None)
        metadata = message_dict.get("metadata", {})
        namespace = metadata.get("namespace", None) if isinstance(metadata, dict) else None
        if namespace is not None and not isinstance(namespace, str):
            message_dict["metadata"]["namespace"] = str(namespace)
        message_type = run_messages.Job if data.get("kind") == "Job" else run_messages.Service
        messages_util.DictToMessageWithErrorCheck(message_dict, message_type)
    except Exception as error:  # gcloud stops here too: nothing is sent
        return [], "{}: {}".format(type(error).__name__, error)
    return [loaded], None


def main():
    warnings.simplefilter("ignore")  # ruamel's YAML 1.1 warnings: the answer is what it read
    file_type = arg_parsers.YAMLFileContents()
    run_messages = apis.GetMessagesModule("run", "v1")
    out = sys.stdout
    with tempfile.TemporaryDirectory(prefix="gcloud-yaml-") as folder:
        path = os.path.join(folder, "manifest.yaml")
        for line in sys.stdin:
            if not line.strip():
                continue
            item = json.loads(line)
            with open(path, "wb") as f:
                f.write(base64.b64decode(item["text_b64"]))
            objects, error = read(path, file_type, run_messages)
            try:
                text = json.dumps({"id": item["id"], "objects": objects, "error": error},
                                  ensure_ascii=True, allow_nan=False)
            except (TypeError, ValueError, RecursionError) as e:
                text = json.dumps({"id": item["id"], "objects": [],
                                   "error": "unrepresentable: {}".format(e)})
            out.write(text + "\n")
            out.flush()


if __name__ == "__main__":
    main()
