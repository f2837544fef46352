#!/usr/bin/env python3
"""Writes the LM Studio engine-pack companion files into an archive folder that already has
backend-manifest.json (made by tools/g4-backend-manifest) and the llama-server runtime (g4-server):

  engine-protocol-server-artifacts.json  the runtime files LM Studio's llama-server protocol layer
                                         runs: the server, the library, the libraries beside it
  display-data.json                      the name and description LM Studio shows

Layout per hosts-and-packaging.md section 1b. `g4 install lmstudio` copies the pack into
~/.lmstudio/extensions/backends/<name>-<version>/.

usage: lmstudio-pack.py DIR SERVER VERSION TARGET     (e.g. DIR g4-server 1.0.0 linux-x86_64)
"""
import json
import os
import sys


def main():
    d, srv, version, target = sys.argv[1:5]
    bm = json.load(open(os.path.join(d, "backend-manifest.json")))
    eps = bm.get("engine_protocol_server", {})
    if eps.get("runtime_kind") != "llama-server" or eps.get("executable_relative_path") != srv:
        sys.exit("lmstudio-pack: backend-manifest.json engine_protocol_server is %r, expected "
                 "llama-server / %r (manifest/manifest.json server_executable)" % (eps, srv))
    # The server first, then the library and what ships beside it, soname links included (named
    # as the loader asks for them).
    libs = sorted(n for n in os.listdir(d)
                  if n != srv and (n.endswith(".dll") or (n.startswith("lib") and ".so." in n)))
    files = [{"relative_path": n, "executable": n == srv} for n in [srv] + libs]
    art = {"schema_version": 1, "runtime_kind": "llama-server", "executable_relative_path": srv,
           "files": files}
    osname = {"linux": "Linux", "windows": "Windows", "macos": "macOS"}[target.split("-")[0]]
    arch = target.split("-", 1)[1]
    display = [["en", {
        "langKey": "en",
        "displayName": "g4plug CPU (%s %s)" % (osname, arch),
        "description": "Gemma 4 GGUF models on the CPU (text, image, audio; MTP drafting) through "
                       "g4-server, a llama-server compatible server on g4plug.",
        "releaseNotes": [{"version": version, "releaseNotes": "g4plug %s" % version}],
    }]]
    for name, obj in (("engine-protocol-server-artifacts.json", art), ("display-data.json", display)):
        path = os.path.join(d, name)
        with open(path, "w") as f:
            json.dump(obj, f, indent=2)
            f.write("\n")
        os.chmod(path, 0o644)


if __name__ == "__main__":
    main()
