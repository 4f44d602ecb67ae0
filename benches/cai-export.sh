#!/usr/bin/env bash
# Writes a Cloud Asset Inventory export (`gcloud asset export --content-type=resource`'s
# newline-delimited JSON) of N Cloud Run resources (default 10,000) to stdout, deterministic, for
# the scan benchmark of the README's Performance section: 20 projects, 3 regions and 40 owners;
# every tenth a sensitive service without a key (denied), every third one with its region's key,
# every seventh a v1 job, the rest public services without a key; and one storage bucket (another
# asset type) every thousand.
#   bash benches/cai-export.sh 1000000 > /tmp/cai.ndjson
set -euo pipefail
count="${1:-10000}"
exec python3 - "$count" <<'PY'
import json, sys

count = int(sys.argv[1])
regions = ["europe-west1", "us-central1", "asia-east1"]
out = sys.stdout
for i in range(count):
    project = 100000000000 + i % 20
    region = regions[i % 3]
    labels = {"cloud.googleapis.com/location": region, "owner": f"team-{i % 40}"}
    annotations = {"autoscaling.knative.dev/maxScale": "10"}
    if i % 10 == 0:
        labels["data-classification"] = "confidential"
    elif i % 3 == 0:
        labels["data-classification"] = "restricted"
        annotations["run.googleapis.com/encryption-key"] = (
            f"projects/kms-prod/locations/{region}/keyRings/cloud-run/cryptoKeys/data-{i % 20}")
        annotations["run.googleapis.com/encryption-key-shutdown-hours"] = "12"
        annotations["run.googleapis.com/post-key-revocation-action-type"] = "shut-down"
    else:
        labels["data-classification"] = "public"
    container = {"image": f"europe-docker.pkg.dev/shop/app/svc:{i % 97}",
                 "ports": [{"containerPort": 8080.0}],
                 "resources": {"limits": {"cpu": "1000m", "memory": "512Mi"}}}
    job = i % 7 == 5
    kind, group, plural = ("Job", "run.googleapis.com", "jobs") if job else \
        ("Service", "serving.knative.dev", "services")
    name = f"{'job' if job else 'svc'}-{i}"
    template = {"metadata": {"annotations": annotations}, "spec": {"containers": [container]}}
    if job:
        template = {"metadata": {"annotations": annotations},
                    "spec": {"template": {"spec": {"containers": [container]}}}}
    data = {"apiVersion": f"{group}/v1", "kind": kind,
            "metadata": {"name": name, "namespace": str(project), "generation": 3.0,
                         "labels": labels},
            "spec": {"template": template}}
    asset = {"name": f"//run.googleapis.com/projects/shop-{i % 20}/locations/{region}/{plural}/{name}",
             "asset_type": f"run.googleapis.com/{kind}",
             "resource": {"version": "v1", "discovery_name": kind,
                          "parent": f"//cloudresourcemanager.googleapis.com/projects/{project}",
                          "data": data, "location": region},
             "ancestors": [f"projects/{project}", "organizations/1"],
             "update_time": "2026-12-01T00:00:00Z"}
    out.write(json.dumps(asset, separators=(", ", ": ")))
    out.write("\n")
    if i % 1000 == 999:
        out.write(json.dumps({"name": f"//storage.googleapis.com/logs-{i}",
                              "asset_type": "storage.googleapis.com/Bucket",
                              "resource": {"version": "v1", "data": {"name": f"logs-{i}"}},
                              "ancestors": [f"projects/{project}"]}))
        out.write("\n")
PY
