"""Starts or removes a scenario's containers with the docker CLI, all at once: `lab_containers.py up|down`, the
scenario's platforms (molecule_yml.platforms, as JSON) on stdin.

Molecule's own docker create and destroy run a module per platform per step on the controller: 3 to 5 minutes per
scenario when the other scenarios keep both cores busy, against seconds for this. It reads the platform keys the
lab's scenarios use, with Molecule's meanings, and refuses any other key so that none is silently ignored."""
import json
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

KNOWN = {"name", "image", "pre_build_image", "command", "capabilities", "security_opts", "cgroupns_mode", "volumes",
         "tmpfs", "docker_networks", "networks", "groups", "hostname", "env"}


def docker(*args, check=True):
    done = subprocess.run(["docker"] + list(args), capture_output=True, text=True, check=False)
    if check and done.returncode != 0:
        raise SystemExit("docker %s: %s" % (" ".join(args[:2]), done.stderr.strip() or done.stdout.strip()))
    return done


def run_argv(platform):
    """`docker run` for one platform: its first network at start (so the container never joins the default
    bridge, which reaches the outside), with that network's aliases."""
    argv = ["run", "--detach", "--name", platform["name"], "--hostname", platform.get("hostname", platform["name"]),
            "--label", "owner=molecule", "--log-driver", "json-file"]
    for cap in platform.get("capabilities", []):
        argv += ["--cap-add", cap]
    for opt in platform.get("security_opts", []):
        argv += ["--security-opt", opt]
    if platform.get("cgroupns_mode"):
        argv += ["--cgroupns", platform["cgroupns_mode"]]
    for volume in platform.get("volumes", []):
        argv += ["--volume", volume]
    for path in platform.get("tmpfs", []):
        argv += ["--tmpfs", path]
    for key, value in sorted(platform.get("env", {}).items()):
        argv += ["--env", "%s=%s" % (key, value)]
    networks = platform.get("networks", [])
    if networks:
        argv += ["--network", networks[0]["name"]]
        for alias in networks[0].get("aliases", []):
            argv += ["--network-alias", alias]
    argv.append(platform["image"])
    if platform.get("command"):
        argv += platform["command"].split()
    return argv


def up(platforms):
    for network in {n["name"]: n for p in platforms for n in p.get("docker_networks", [])}.values():
        if docker("network", "inspect", network["name"], check=False).returncode != 0:
            docker("network", "create", *(["--internal"] if network.get("internal") else []), network["name"])

    def start(platform):
        docker("rm", "--force", platform["name"], check=False)
        docker(*run_argv(platform))
        for network in platform.get("networks", [])[1:]:
            aliases = [a for alias in network.get("aliases", []) for a in ("--alias", alias)]
            docker("network", "connect", *aliases, network["name"], platform["name"])
        return platform["name"]

    with ThreadPoolExecutor(max_workers=len(platforms) or 1) as pool:
        for name in pool.map(start, platforms):
            print("started %s" % name)


def down(platforms):
    names = [p["name"] for p in platforms]
    if names:
        docker("rm", "--force", "--volumes", *names, check=False)
    for name in sorted({n["name"] for p in platforms for n in p.get("docker_networks", [])}):
        # a network another scenario's container still uses stays
        docker("network", "rm", name, check=False)
    print("removed %s" % ", ".join(names))


def main():
    action = sys.argv[1] if len(sys.argv) == 2 else ""
    if action not in ("up", "down"):
        raise SystemExit("usage: lab_containers.py up|down < platforms.json")
    platforms = json.load(sys.stdin)
    for platform in platforms:
        unknown = sorted(set(platform) - KNOWN)
        if unknown:
            raise SystemExit("platform %s: lab_containers.py does not read %s" % (platform.get("name"), ", ".join(unknown)))
        if not platform.get("pre_build_image"):
            raise SystemExit("platform %s: the lab's images are prebuilt (pre_build_image: true)" % platform["name"])
    (up if action == "up" else down)(platforms)


if __name__ == "__main__":
    main()
