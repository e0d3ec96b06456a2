"""Serve Kubernetes objects from YAML files with kmock's KubernetesEmulator.

An independent API server (not ours) for cross-checking the dashboard's read
path. Prints one line `kmock at http://HOST:PORT` once it listens, then serves
until stdin closes or it gets SIGTERM.

    python tools/kmock_cluster.py DIR_OR_FILE...
"""

import asyncio
import pathlib
import signal
import sys

import kmock
import yaml

# plural, kind, namespaced, per apiVersion the dashboard reads.
RESOURCES = {
    "argoproj.io/v1alpha1": [
        ("rollouts", "Rollout"),
        ("analysisruns", "AnalysisRun"),
        ("experiments", "Experiment"),
    ],
    "apps/v1": [("replicasets", "ReplicaSet"), ("deployments", "Deployment")],
    "v1": [("pods", "Pod"), ("events", "Event")],
    "networking.istio.io/v1": [
        ("virtualservices", "VirtualService"),
        ("destinationrules", "DestinationRule"),
    ],
}
PLURALS = {
    (api, kind): plural for api, kinds in RESOURCES.items() for plural, kind in kinds
}


def documents(paths):
    for arg in paths:
        path = pathlib.Path(arg)
        files = sorted(path.glob("*.y*ml")) if path.is_dir() else [path]
        for f in files:
            for doc in yaml.safe_load_all(f.read_text()):
                if not doc:
                    continue
                if doc.get("kind") == "List":
                    yield from doc.get("items", [])
                else:
                    yield doc


async def main(paths):
    async with kmock.KubernetesEmulator() as emulator, kmock.Server(emulator) as server:
        for api, kinds in RESOURCES.items():
            for plural, kind in kinds:
                emulator.resources[f"{api}/{plural}"] = {
                    "kind": kind,
                    "namespaced": True,
                    "verbs": ["get", "list", "watch"],
                }
        loaded = 0
        for doc in documents(paths):
            plural = PLURALS.get((doc.get("apiVersion"), doc.get("kind")))
            if plural is None:
                continue
            meta = doc.setdefault("metadata", {})
            ns = meta.setdefault("namespace", "default")
            emulator.objects[f"{doc['apiVersion']}/{plural}", ns, meta["name"]] = doc
            loaded += 1
        print(f"kmock at {server.url} ({loaded} objects)", flush=True)

        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        loop.add_signal_handler(signal.SIGTERM, stop.set)
        loop.add_reader(sys.stdin.fileno(), lambda: sys.stdin.read(1) or stop.set())
        await stop.wait()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1:]))
