#!/usr/bin/env python3
"""Checks the Dockerfile against a built credvaultd (the image cannot be built here).

    check_image.py --dockerfile Dockerfile --bootstrap scripts/bootstrap.sh BINARY...

For each binary:
  * every library it names directly (ELF NEEDED) belongs to a Debian package that the
    runtime stage installs by name;
  * every library `ldd` resolves, transitively, belongs to a package that the runtime
    stage installs or that one of those packages depends on (per the local dpkg
    database, so nothing is downloaded).
Sanitizer runtimes (libasan, libubsan, ...) of an ASan/UBSan build are reported and
skipped: the image is built in Release. Also checks the Dockerfile's shape: a Debian 12
build stage that installs every library package of scripts/bootstrap.sh, a slim
runtime stage with no -dev package, a non-root USER and an exec-form ENTRYPOINT.
"""

import argparse
import os
import re
import shlex
import subprocess
import sys

FAILURES = []
SANITIZER_PACKAGE = re.compile(r"^lib(asan|ubsan|lsan|tsan|hwasan)\d*$")


def fail(message):
    FAILURES.append(message)
    print(f"FAIL: {message}")


def parse_dockerfile(path):
    """Stages as a list of {name, from, instructions: [(KEYWORD, text)]}."""
    with open(path) as f:
        text = f.read()
    logical = []
    current = ""
    for raw in text.splitlines():
        line = raw.rstrip()
        if not current and (not line.strip() or line.lstrip().startswith("#")):
            continue
        if line.lstrip().startswith("#"):
            continue  # comment inside a continued instruction
        if line.endswith("\\"):
            current += line[:-1] + " "
            continue
        current += line
        logical.append(current.strip())
        current = ""
    stages = []
    args = {}
    for instruction in logical:
        keyword, _, rest = instruction.partition(" ")
        keyword = keyword.upper()
        if keyword == "ARG" and not stages:
            name, _, default = rest.partition("=")
            args[name.strip()] = default.strip()
        elif keyword == "FROM":
            image = re.sub(r"\$\{(\w+)\}", lambda m: args.get(m.group(1), ""), rest)
            match = re.match(r"(\S+)(?:\s+AS\s+(\S+))?", image, re.IGNORECASE)
            stages.append({"from": match.group(1), "name": match.group(2) or "",
                           "instructions": []})
        elif stages:
            stages[-1]["instructions"].append((keyword, rest))
    return stages


def apt_packages(stage):
    """Package names given to `apt-get install` in a stage's RUN instructions."""
    packages = []
    for keyword, text in stage["instructions"]:
        if keyword != "RUN":
            continue
        for command in re.split(r"&&|;", text):
            words = shlex.split(command)
            if len(words) >= 2 and words[0] in ("apt-get", "apt") and "install" in words:
                packages += [w for w in words[words.index("install") + 1:] if not w.startswith("-")]
    return packages


def bootstrap_libraries(path):
    """The packages under the `# libraries` heading of scripts/bootstrap.sh."""
    with open(path) as f:
        lines = f.read().splitlines()
    packages = []
    inside = False
    for line in lines:
        stripped = line.strip()
        if stripped.startswith("#"):
            inside = stripped == "# libraries"
            continue
        if stripped.startswith(")"):
            break
        if inside:
            packages += stripped.split()
    return packages


def run(args):
    return subprocess.run(args, capture_output=True, text=True, check=False)


def package_owners(paths):
    """{path: installed Debian package} for library paths, in one dpkg-query call.

    Debian 12 has a merged /usr, and a package may register a library under /lib or
    /usr/lib; every spelling of each path is asked for.
    """
    spellings = {}
    for path in paths:
        for candidate in {path, os.path.realpath(path)}:
            spellings.setdefault(candidate, path)
            other = candidate[4:] if candidate.startswith("/usr/") else "/usr" + candidate
            spellings.setdefault(other, path)
    result = run(["dpkg-query", "-S"] + sorted(spellings))
    owners = {}
    for line in result.stdout.splitlines():
        package, _, owned = line.partition(": ")
        if owned in spellings:
            owners.setdefault(spellings[owned], package.split(",")[0].split(":")[0].strip())
    return owners


def ldd(binary):
    """{soname: resolved path} for every library ldd lists."""
    result = run(["ldd", binary])
    if result.returncode != 0:
        fail(f"ldd {binary}: {result.stderr.strip()}")
        return {}
    libraries = {}
    for line in result.stdout.splitlines():
        match = re.match(r"\s*(\S+)\s+=>\s+(\S+)", line)
        if match:
            if match.group(2) == "not":
                fail(f"{binary}: {match.group(1)} is not found")
            else:
                libraries[match.group(1)] = match.group(2)
        else:
            match = re.match(r"\s*(/\S+)\s+\(", line)  # the dynamic loader
            if match:
                libraries[os.path.basename(match.group(1))] = match.group(1)
    return libraries


def needed(binary):
    result = run(["readelf", "-d", binary])
    return re.findall(r"\(NEEDED\)\s+Shared library: \[([^\]]+)\]", result.stdout)


def installed_packages():
    """{package: [[alternative, ...], ...]} of Depends and Pre-Depends, plus Provides."""
    result = run(["dpkg-query", "-W", "-f=${Package}\t${db:Status-Abbrev}\t${Depends}, ${Pre-Depends}\t${Provides}\n"])
    depends = {}
    provides = {}
    for line in result.stdout.splitlines():
        package, status, deps, provided = (line.split("\t") + ["", "", ""])[:4]
        if not status.startswith("ii"):
            continue
        clauses = []
        for clause in deps.split(","):
            alternatives = [re.sub(r"\s*\(.*?\)|:\w+", "", a).strip() for a in clause.split("|")]
            alternatives = [a for a in alternatives if a]
            if alternatives:
                clauses.append(alternatives)
        depends[package] = clauses
        for virtual in provided.split(","):
            virtual = re.sub(r"\s*\(.*?\)", "", virtual).strip()
            if virtual:
                provides.setdefault(virtual, []).append(package)
    return depends, provides


def dependency_closure(roots):
    """Installed packages reachable from `roots` over Depends and Pre-Depends."""
    depends, provides = installed_packages()
    seen = set()
    todo = list(roots)
    while todo:
        package = todo.pop()
        if package in seen:
            continue
        seen.add(package)
        for alternatives in depends.get(package, []):
            for alternative in alternatives:
                real = [alternative] if alternative in depends else provides.get(alternative, [])
                if real:
                    todo.extend(real)
                    break
    return seen


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--dockerfile", required=True)
    parser.add_argument("--bootstrap", required=True)
    parser.add_argument("binaries", nargs="+")
    args = parser.parse_args()

    stages = parse_dockerfile(args.dockerfile)
    if len(stages) < 2:
        fail("the Dockerfile is not multi-stage")
        return 1
    build, runtime = stages[0], stages[-1]
    print(f"build stage: {build['from']}; runtime stage: {runtime['from']}")
    if not re.match(r"debian:(12|bookworm)$", build["from"]):
        fail(f"build stage is {build['from']}, not Debian 12")
    if not re.match(r"debian:(12|bookworm)-slim$", runtime["from"]):
        fail(f"runtime stage is {runtime['from']}, not debian:12-slim")

    runtime_packages = apt_packages(runtime)
    print(f"runtime packages ({len(runtime_packages)}): {' '.join(runtime_packages)}")
    if not runtime_packages:
        fail("the runtime stage installs no package")
    for package in runtime_packages:
        if package.endswith("-dev") or package in ("build-essential", "cmake", "gcc", "g++"):
            fail(f"runtime stage installs build package {package}")
    users = [text for keyword, text in runtime["instructions"] if keyword == "USER"]
    if not users or users[-1].split(":")[0] in ("0", "root"):
        fail("runtime stage does not end as a non-root USER")
    entrypoints = [text for keyword, text in runtime["instructions"] if keyword == "ENTRYPOINT"]
    if not entrypoints or not entrypoints[-1].startswith("["):
        fail("runtime stage has no exec-form ENTRYPOINT (a shell form would need /bin/sh)")

    build_packages = set(apt_packages(build))
    wanted = bootstrap_libraries(args.bootstrap)
    if not wanted:
        fail(f"no '# libraries' packages found in {args.bootstrap}")
    missing = [p for p in wanted if p not in build_packages]
    if missing:
        fail(f"build stage lacks library packages of scripts/bootstrap.sh: {' '.join(missing)}")
    else:
        print(f"build stage installs all {len(wanted)} library packages of scripts/bootstrap.sh")

    listed = set(runtime_packages)
    closure = dependency_closure(listed)
    for binary in args.binaries:
        if not os.path.isfile(binary):
            fail(f"{binary}: no such binary")
            continue
        print(f"== {binary}")
        libraries = ldd(binary)
        by_path = package_owners(libraries.values())
        owners = {}
        for soname, path in sorted(libraries.items()):
            package = by_path.get(path)
            if package is None:
                fail(f"{binary}: {soname} ({path}) belongs to no Debian package: the image cannot provide it")
                continue
            owners[soname] = package
        sanitizer = sorted({p for p in owners.values() if SANITIZER_PACKAGE.match(p)})
        if sanitizer:
            print(f"   sanitizer build: skipping {', '.join(sanitizer)} (the image is built in Release)")
        for soname in needed(binary):
            package = owners.get(soname)
            if package is None or SANITIZER_PACKAGE.match(package):
                continue
            if package not in listed:
                fail(f"{binary} links {soname} directly, from {package}, which the runtime stage does not install")
        for soname, package in sorted(owners.items()):
            if SANITIZER_PACKAGE.match(package):
                continue
            if package not in closure:
                fail(f"{binary} loads {soname} from {package}, which no runtime package brings in")
        shipped = {s: p for s, p in owners.items() if not SANITIZER_PACKAGE.match(p)}
        print(f"   {len(shipped)} libraries from {len(set(shipped.values()))} packages: "
              f"{' '.join(sorted(set(shipped.values())))}")
    print("image check:", "FAILED" if FAILURES else "passed")
    return 1 if FAILURES else 0


if __name__ == "__main__":
    sys.exit(main())
