#!/bin/sh
# Cross-builds the optional libraries for the Windows x86_64 build (mingw-w64) from Debian's
# source packages (`apt-get source`, needs the deb-src entries packaging/dist-deps.sh adds) into
# DIR (default build-win-deps/), a cache: each library is built once and marked DIR/.done-NAME.
#
#   library        source package   how                       linked into
#   zlib           (none)           Debian's libz-mingw-w64-dev  g4plug.dll (static, for libpng)
#   cJSON          cjson            cJSON.c compiled directly    g4plug.dll, g4-server.exe (static)
#   libpng         libpng1.6        CMake, static                g4plug.dll (static)
#   libjpeg-turbo  libjpeg-turbo    CMake, static, no SIMD (no nasm; decoding a prompt image is
#                                   not the hot path)             g4plug.dll (static)
#   hwloc          hwloc            configure, static, no plugins g4plug.dll (static)
#   libmicrohttpd  libmicrohttpd    configure, DLL, no HTTPS      g4-server.exe -> libmicrohttpd-12.dll
#
# The permissive libraries (MIT, libpng, IJG/BSD, BSD) are linked statically into g4plug.dll, so
# the DLL still imports only system DLLs; libmicrohttpd is LGPL-2.1 and ships as its own DLL.
# Result: DIR/include, DIR/lib (*.a, pkg-config files not needed), DIR/bin/*.dll,
# DIR/licenses/<source package>.copyright (Debian's copyright files, for the archive's notices).
# Runs niced: it is CPU-heavy and CI machines are shared.
set -eu
DIR=${1:-build-win-deps}
mkdir -p "$DIR"
DIR=$(cd "$DIR" && pwd)
HOST=x86_64-w64-mingw32
CC=$HOST-gcc
NICE="nice -n 15"
JOBS=${JOBS:-2}
mkdir -p "$DIR/src" "$DIR/include" "$DIR/lib" "$DIR/bin" "$DIR/licenses"
export SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-0}
# No build paths in the static libraries' debug info.
CFLAGS_COMMON="-O2 -ffile-prefix-map=$DIR=/win-deps"

done_mark() { [ -f "$DIR/.done-$1" ]; }
mark() { touch "$DIR/.done-$1"; echo "win-deps: $1 done"; }

# fetch SRCPKG: unpacks Debian's source (patched) into DIR/src/SRCPKG, echoes the path.
fetch() {
  d=$DIR/src/$1
  if [ ! -d "$d" ]; then
    tmp=$DIR/src/.tmp-$1
    rm -rf "$tmp" && mkdir -p "$tmp"
    # The newest version first; a mirror may list a version whose files it lacks (a security
    # update not mirrored), so older versions are tried in turn.
    got=""
    for v in $(apt-cache showsrc "$1" 2>/dev/null | sed -n 's/^Version: //p' | sort -rV | uniq); do
      if (cd "$tmp" && apt-get source -qq "$1=$v" >/dev/null 2>&1); then got=$v; break; fi
      rm -rf "$tmp" && mkdir -p "$tmp"
    done
    [ -n "$got" ] || {
      echo "win-deps: apt-get source $1 failed (deb-src entries? run packaging/dist-deps.sh)" >&2
      rm -rf "$tmp"
      exit 1
    }
    echo "win-deps: $1 $got" >&2
    top=$(find "$tmp" -mindepth 1 -maxdepth 1 -type d | head -1)
    mv "$top" "$d"
    rm -rf "$tmp"
  fi
  [ -f "$d/debian/copyright" ] && cp "$d/debian/copyright" "$DIR/licenses/$1.copyright"
  echo "$d"
}

# zlib: Debian ships it for mingw-w64.
if ! done_mark zlib; then
  z=/usr/$HOST/lib/libz.a
  [ -f "$z" ] || { echo "win-deps: $z missing (apt-get install libz-mingw-w64-dev)" >&2; exit 1; }
  cp /usr/$HOST/include/zlib.h /usr/$HOST/include/zconf.h "$DIR/include/"
  cp "$z" "$DIR/lib/libz.a"
  cp /usr/share/doc/libz-mingw-w64-dev/copyright "$DIR/licenses/zlib.copyright" 2>/dev/null || true
  mark zlib
fi

# CJSON_HIDE_SYMBOLS: cJSON.h marks its functions __declspec(dllexport) by default, which would
# export them from g4plug.dll beside the .def list (the Makefile defines it for our code too).
if ! done_mark cjson-hidden; then
  s=$(fetch cjson)
  mkdir -p "$DIR/include/cjson" "$DIR/obj"
  $NICE $CC $CFLAGS_COMMON -DCJSON_HIDE_SYMBOLS -std=c89 -c "$s/cJSON.c" -o "$DIR/obj/cJSON.o"
  rm -f "$DIR/lib/libcjson.a"
  $HOST-ar rcsD "$DIR/lib/libcjson.a" "$DIR/obj/cJSON.o"
  cp "$s/cJSON.h" "$DIR/include/cjson/cJSON.h"
  mark cjson-hidden
fi

# cmake_build SRC NAME ARGS...: a static build installed into DIR.
cmake_build() {
  s=$1 n=$2
  shift 2
  b=$DIR/obj/$n
  rm -rf "$b"
  $NICE cmake -S "$s" -B "$b" -DCMAKE_SYSTEM_NAME=Windows -DCMAKE_SYSTEM_PROCESSOR=AMD64 -DCMAKE_C_COMPILER=$CC \
    -DCMAKE_RC_COMPILER=$HOST-windres -DCMAKE_BUILD_TYPE=Release -DCMAKE_C_FLAGS="$CFLAGS_COMMON" \
    -DCMAKE_INSTALL_PREFIX="$DIR" -DCMAKE_FIND_ROOT_PATH="$DIR" \
    -DCMAKE_FIND_ROOT_PATH_MODE_LIBRARY=ONLY -DCMAKE_FIND_ROOT_PATH_MODE_INCLUDE=ONLY "$@" >"$b.log" 2>&1 ||
    { tail -30 "$b.log"; exit 1; }
  $NICE cmake --build "$b" -j "$JOBS" >>"$b.log" 2>&1 || { tail -30 "$b.log"; exit 1; }
  cmake --install "$b" >>"$b.log" 2>&1 || { tail -30 "$b.log"; exit 1; }
}

if ! done_mark libpng; then
  s=$(fetch libpng1.6)
  cmake_build "$s" libpng -DPNG_SHARED=OFF -DPNG_STATIC=ON -DPNG_TESTS=OFF -DPNG_EXECUTABLES=OFF \
    -DZLIB_LIBRARY="$DIR/lib/libz.a" -DZLIB_INCLUDE_DIR="$DIR/include"
  mark libpng
fi

if ! done_mark libjpeg; then
  s=$(fetch libjpeg-turbo)
  cmake_build "$s" libjpeg -DENABLE_SHARED=OFF -DENABLE_STATIC=ON -DWITH_SIMD=OFF -DWITH_TURBOJPEG=OFF \
    -DWITH_JPEG8=OFF -DCMAKE_INSTALL_LIBDIR="$DIR/lib" -DCMAKE_INSTALL_INCLUDEDIR="$DIR/include"
  mark libjpeg
fi

# configure_build SRC NAME SUBDIRS ARGS...: builds and installs only SUBDIRS (the library and its
# headers, not the tools and tests).
configure_build() {
  s=$1 n=$2 subdirs=$3
  shift 3
  b=$DIR/obj/$n
  rm -rf "$b" && mkdir -p "$b"
  (cd "$b" && $NICE "$s/configure" --host=$HOST --prefix="$DIR" CFLAGS="$CFLAGS_COMMON" "$@" >"$b.log" 2>&1) ||
    { tail -30 "$b.log"; exit 1; }
  for sd in $subdirs; do
    $NICE make -C "$b/$sd" -j "$JOBS" >>"$b.log" 2>&1 || { tail -30 "$b.log"; exit 1; }
    make -C "$b/$sd" install >>"$b.log" 2>&1 || { tail -30 "$b.log"; exit 1; }
  done
}

if ! done_mark hwloc; then
  s=$(fetch hwloc)
  configure_build "$s" hwloc "include hwloc" --enable-static --disable-shared --disable-plugins --disable-libxml2 \
    --disable-cairo --disable-opencl --disable-cuda --disable-nvml --disable-rsmi --disable-levelzero \
    --disable-gl --disable-libudev --disable-pci --disable-io --disable-doxygen --disable-readme
  mark hwloc
fi

if ! done_mark libmicrohttpd; then
  s=$(fetch libmicrohttpd)
  configure_build "$s" libmicrohttpd "src/include src/microhttpd" --enable-shared --disable-static --disable-https --disable-doc \
    --disable-examples --disable-curl --disable-nls --disable-postprocessor --with-threads=auto
  mark libmicrohttpd
fi
echo "win-deps: $DIR: $(ls "$DIR/lib"/*.a "$DIR/bin"/*.dll 2>/dev/null | xargs -n1 basename | tr '\n' ' ')"
