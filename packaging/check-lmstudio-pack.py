#!/usr/bin/env python3
"""Checks an LM Studio engine pack folder (an unpacked archive, or what `g4 install lmstudio` made):

  * backend-manifest.json, engine-protocol-server-artifacts.json and display-data.json against
    packaging/lmstudio-pack.schema.json, and manifest.json (when present) against
    manifest/manifest.schema.json (JSON Schema draft 2020-12, python3-jsonschema);
  * the runtime named by engine_protocol_server is the artifacts' executable, every listed file is
    there (executable ones with the x bit on POSIX), the platform/arch match TARGET;
  * with --installed: the folder is <backends>/<name>-<version>/.

usage: check-lmstudio-pack.py SRCDIR PACKDIR TARGET [--installed]
Prints one "ok ..." / "FAIL ..." line per check; exit status 1 when any failed.
"""
import json
import os
import sys

try:
    import jsonschema
except ImportError:  # the apt package is for /usr/bin/python3; a pyenv python may lack it
    if sys.executable != "/usr/bin/python3" and os.path.exists("/usr/bin/python3"):
        os.execv("/usr/bin/python3", ["/usr/bin/python3"] + sys.argv)
    sys.exit("check-lmstudio-pack: python3-jsonschema is not installed (make dist-deps)")

fails = 0


def check(cond, what):
    global fails
    print(("ok   " if cond else "FAIL ") + what)
    fails += 0 if cond else 1
    return cond


def validate(schema, doc, what):
    errs = sorted(jsonschema.Draft202012Validator(schema).iter_errors(doc), key=lambda e: list(e.path))
    for e in errs[:5]:
        print("     %s: %s at %s" % (what, e.message, "/".join(str(p) for p in e.path)))
    return check(not errs, "%s matches its schema" % what)


def main():
    src, pack, target = sys.argv[1:4]
    installed = "--installed" in sys.argv[4:]
    pack_schema = json.load(open(os.path.join(src, "packaging", "lmstudio-pack.schema.json")))
    docs = {}
    for name, ref in (("backend-manifest.json", "backend_manifest"),
                      ("engine-protocol-server-artifacts.json", "artifacts"),
                      ("display-data.json", "display_data")):
        path = os.path.join(pack, name)
        if not check(os.path.isfile(path), "%s present" % name):
            continue
        docs[name] = json.load(open(path))
        schema = dict(pack_schema)
        schema["$ref"] = "#/$defs/" + ref
        validate(schema, docs[name], name)
    mpath = os.path.join(pack, "manifest.json")
    if os.path.isfile(mpath):
        validate(json.load(open(os.path.join(src, "manifest", "manifest.schema.json"))),
                 json.load(open(mpath)), "manifest.json")
    bm = docs.get("backend-manifest.json")
    art = docs.get("engine-protocol-server-artifacts.json")
    if bm is None or art is None:
        return
    os_, arch = target.split("-", 1)
    check(bm["platform"] == {"linux": "linux", "windows": "win", "macos": "mac"}[os_] and
          bm["cpu"]["architecture"] == ("ARM64" if arch in ("aarch64", "arm64") else "x86_64"),
          "backend-manifest.json platform %s / %s fits %s" % (bm["platform"], bm["cpu"]["architecture"], target))
    exe = bm.get("engine_protocol_server", {}).get("executable_relative_path")
    check(exe is not None and exe == art["executable_relative_path"],
          "engine_protocol_server names the artifacts' executable (%s)" % exe)
    listed = {f["relative_path"]: f["executable"] for f in art["files"]}
    check(listed.get(exe) is True, "%s listed as executable" % exe)
    for rel, is_exe in sorted(listed.items()):
        p = os.path.join(pack, rel)
        ok = os.path.isfile(p) and (not is_exe or os.name != "posix" or os.access(p, os.X_OK))
        check(ok, "%s present%s" % (rel, " and executable" if is_exe else ""))
    lib = {"windows": "g4plug.dll", "macos": "libg4plug.1.dylib"}.get(os_, "libg4plug.so.1")
    check(lib in listed, "the library %s is part of the runtime" % lib)
    if installed:
        want = "%s-%s" % (bm["name"], bm["version"])
        check(os.path.basename(os.path.normpath(pack)) == want and
              os.path.basename(os.path.dirname(os.path.normpath(pack))) == "backends" and
              os.path.basename(os.path.dirname(os.path.dirname(os.path.normpath(pack)))) == "extensions",
              "installed as extensions/backends/%s" % want)


if __name__ == "__main__":
    main()
    sys.exit(1 if fails else 0)
