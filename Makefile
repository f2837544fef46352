# g4plug — top-level build.
#
# Sources are picked up by wildcard so that adding a file never needs a Makefile edit:
#   plugin/*/*.c, kernels/*.c, os/*.c -> libg4plug.so (and build/libg4plug_internal.a for unit
#                               tests); plugin/ has one folder per room (docs/ARCHITECTURE.md)
#   kernels/*_avx2.c          -> compiled with AVX2/FMA/F16C flags (selected at run time)
#   kernels/*_avx512.c        -> compiled with AVX-512 F/BW/VL/DQ + VNNI + BF16 flags
#   kernels/*_neon.c          -> compiled with Armv8.2 dotprod/i8mm flags (aarch64 only)
#   tests/test_*.c            -> build/tests/test_* (linked with the internal archive)
#   tools/*.c                 -> build/tools/*      (linked with the internal archive)
#   hosts/*/ and conformance/ -> stand-alone programs that reach the library only via dlopen
#
# make            build everything
# make test       install deps if missing, build, run the default test suite
# make test SAN=1 the same under ASan+UBSan (clang), in build-san/
# make run        run the main job (g4 on the embedded default model)
# make bench      benchmarks against llama.cpp (see bench/)

VERSION_MAJOR := 1
VERSION_MINOR := 1
VERSION_PATCH := 0
VERSION := $(VERSION_MAJOR).$(VERSION_MINOR).$(VERSION_PATCH)

SAN ?= 0
ifeq ($(SAN),1)
  CC := clang
  BUILD ?= build-san
  SANFLAGS := -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
  OPT ?= -O1
  # The sanitizer runtime lives in the executable, so the shared library has undefined
  # __asan_* references by design: no -z defs here.
  ZDEFS :=
else
  CC ?= cc
  BUILD ?= build
  SANFLAGS :=
  OPT ?= -O2
  ZDEFS := -Wl,-z,defs
endif
ifeq ($(origin CC),default)
  CC := cc
endif

ARCH := $(shell uname -m)
HAVE_HWLOC := $(shell pkg-config --exists hwloc 2>/dev/null && echo 1)
HAVE_CJSON := $(shell pkg-config --exists libcjson 2>/dev/null && echo 1)

WARN := -Wall -Wextra -Werror -Wno-unused-parameter
CPPFLAGS += -DG4_BUILDING_LIBRARY -D_GNU_SOURCE -Iabi -Iplugin -Ikernels -Ios -DG4_VERSION_STRING=\"$(VERSION)\"
CFLAGS += -std=c11 $(OPT) -g -fPIC -fvisibility=hidden $(WARN) $(SANFLAGS) -pthread
LDFLAGS += $(SANFLAGS) -pthread
LDLIBS += -lm -ldl

ifeq ($(HAVE_HWLOC),1)
  CPPFLAGS += -DG4_HAVE_HWLOC=1 $(shell pkg-config --cflags hwloc)
  LDLIBS += $(shell pkg-config --libs hwloc)
endif
ifeq ($(HAVE_CJSON),1)
  CPPFLAGS += -DG4_HAVE_CJSON=1 $(shell pkg-config --cflags libcjson)
  LDLIBS += $(shell pkg-config --libs libcjson)
endif

HAVE_PNG := $(shell pkg-config --exists libpng 2>/dev/null && echo 1)
HAVE_JPEG := $(shell pkg-config --exists libjpeg 2>/dev/null && echo 1)
ifeq ($(HAVE_PNG),1)
  CPPFLAGS += -DG4_HAVE_PNG=1 $(shell pkg-config --cflags libpng)
  LDLIBS += $(shell pkg-config --libs libpng)
endif
ifeq ($(HAVE_JPEG),1)
  CPPFLAGS += -DG4_HAVE_JPEG=1 $(shell pkg-config --cflags libjpeg)
  LDLIBS += $(shell pkg-config --libs libjpeg)
endif

LIB_SRCS := $(wildcard plugin/*.c plugin/*/*.c kernels/*.c os/*.c)
ifeq ($(ARCH),x86_64)
  LIB_SRCS := $(filter-out %_neon.c,$(LIB_SRCS))
else ifeq ($(ARCH),aarch64)
  LIB_SRCS := $(filter-out %_avx2.c %_avx512.c,$(LIB_SRCS))
else
  LIB_SRCS := $(filter-out %_neon.c %_avx2.c %_avx512.c,$(LIB_SRCS))
endif
LIB_OBJS := $(LIB_SRCS:%.c=$(BUILD)/%.o)

# Per-ISA flags: each SIMD variant lives in its own translation unit.
$(BUILD)/kernels/%_avx2.o: ISAFLAGS := -mavx2 -mfma -mf16c
$(BUILD)/kernels/%_avx512.o: ISAFLAGS := -mavx2 -mfma -mf16c -mavx512f -mavx512bw -mavx512vl -mavx512dq -mavx512vnni -mavx512bf16
$(BUILD)/kernels/%_neon.o: ISAFLAGS := -march=armv8.2-a+dotprod+i8mm+fp16

# Quiet by default; `make V=1` prints full command lines.
ifeq ($(V),1)
  Q :=
  say = @true
else
  Q := @
  say = @echo "  $(1)	$(2)"
endif

SONAME := libg4plug.so.$(VERSION_MAJOR)
LIB := $(BUILD)/libg4plug.so.$(VERSION)
LIB_LINKS := $(BUILD)/$(SONAME) $(BUILD)/libg4plug.so
ARCHIVE := $(BUILD)/libg4plug_internal.a

TEST_SRCS := $(wildcard tests/test_*.c)
TEST_BINS := $(TEST_SRCS:tests/%.c=$(BUILD)/tests/%)
TOOL_SRCS := $(wildcard tools/*.c)
TOOL_BINS := $(TOOL_SRCS:tools/%.c=$(BUILD)/tools/%)

# g4-server needs libmicrohttpd (and cJSON) for the target; cross builds without them skip it.
HAVE_MHD := $(shell pkg-config --exists libmicrohttpd libcjson 2>/dev/null && echo 1)
HOST_BINS := $(BUILD)/g4 $(BUILD)/g4-conformance $(if $(HAVE_MHD),$(BUILD)/g4-server)

.PHONY: all lib deps test test-full run bench clean fuzz tsan dist
all: lib $(HOST_BINS) $(TEST_BINS) $(TOOL_BINS) $(BUILD)/tests/abi_host_c89 $(BUILD)/tests/abi_host_cxx $(BUILD)/tests/abi_host_v1_0

lib: $(LIB) $(LIB_LINKS) $(ARCHIVE)

# Video decoding (hosts/common/video_decode.c) uses FFmpeg's libraries when they are installed;
# without them the hosts build and refuse --video / video_url with a clear message.
FFMPEG_PKGS := libavformat libavcodec libswscale libswresample libavutil
HAVE_FFMPEG := $(shell pkg-config --exists $(FFMPEG_PKGS) 2>/dev/null && echo 1)
FFMPEG_CFLAGS := $(if $(HAVE_FFMPEG),-DG4_HAVE_FFMPEG=1 $(shell pkg-config --cflags $(FFMPEG_PKGS)))
FFMPEG_LIBS := $(if $(HAVE_FFMPEG),$(shell pkg-config --libs $(FFMPEG_PKGS)))

# The compile flags are part of every object's and host's inputs: when they change (a library
# found or lost by pkg-config, another CC or OPT), everything rebuilt from them rebuilds instead
# of mixing stale objects. Two stamps: the library's flags (every object), and the hosts' own
# libraries (FFmpeg, libmicrohttpd), which only the hosts use. (A `make` before the packages were
# installed left `g4` without FFmpeg under the next `make test`, whose video checks failed.)
FLAGS_STAMP := $(BUILD)/.flags
FLAGS_NOW := $(CC) $(CPPFLAGS) $(CFLAGS) $(LDFLAGS) $(LDLIBS)
ifneq ($(FLAGS_NOW),$(shell cat $(FLAGS_STAMP) 2>/dev/null))
  $(shell mkdir -p $(BUILD) && printf '%s\n' '$(FLAGS_NOW)' >$(FLAGS_STAMP))
endif
HOST_FLAGS_STAMP := $(BUILD)/.flags-hosts
HOST_FLAGS_NOW := $(FFMPEG_CFLAGS) $(FFMPEG_LIBS) mhd=$(HAVE_MHD)
ifneq ($(HOST_FLAGS_NOW),$(shell cat $(HOST_FLAGS_STAMP) 2>/dev/null))
  $(shell mkdir -p $(BUILD) && printf '%s\n' '$(HOST_FLAGS_NOW)' >$(HOST_FLAGS_STAMP))
endif

$(BUILD)/%.o: %.c $(FLAGS_STAMP)
	@mkdir -p $(dir $@)
	$(call say,CC,$<)
	$(Q)$(CC) $(CPPFLAGS) $(CFLAGS) $(ISAFLAGS) -MMD -MP -c $< -o $@

$(LIB): $(LIB_OBJS) abi/g4plug.map
	$(call say,LD,$@)
	$(Q)$(CC) -shared -o $@ $(LIB_OBJS) -Wl,-soname,$(SONAME) -Wl,--version-script=abi/g4plug.map \
	  $(ZDEFS) -Wl,-z,now -Wl,-rpath,'$$ORIGIN' $(LDFLAGS) $(LDLIBS)

$(LIB_LINKS): $(LIB)
	ln -sf $(notdir $(LIB)) $@

$(ARCHIVE): $(LIB_OBJS)
	@rm -f $@
	$(call say,AR,$@)
	$(Q)ar rcs $@ $^

# Host-side video checks (tests/test_video.sh runs them): FFmpeg decoding + the ABI via dlopen.
ifeq ($(HAVE_FFMPEG),1)
all: $(BUILD)/tests/video_host_check
endif
$(BUILD)/tests/video_host_check: tests/video/video_host_check.c hosts/common/video_decode.c hosts/common/video_embed.c hosts/common/g4_dl.c tests/t.h $(FLAGS_STAMP) $(HOST_FLAGS_STAMP) | lib
	@mkdir -p $(dir $@)
	$(call say,LINK,$@)
	$(Q)$(CC) -D_GNU_SOURCE -Iabi -Ihosts/common -Itests $(FFMPEG_CFLAGS) $(CFLAGS) -o $@ $(filter %.c,$^) $(LDFLAGS) $(FFMPEG_LIBS) -lm -ldl

# Hosts use the library only through dlopen: they link nothing of ours.
$(BUILD)/g4: $(wildcard hosts/cli/*.c) $(wildcard hosts/common/*.c) abi/g4plug.h $(FLAGS_STAMP) $(HOST_FLAGS_STAMP) | lib
	$(call say,LINK,$@)
	$(Q)$(CC) $(CPPFLAGS) -Ihosts/common $(FFMPEG_CFLAGS) $(CFLAGS) -o $@ $(filter %.c,$^) $(LDFLAGS) $(FFMPEG_LIBS) -lm -ldl
	@$(HOST_LINK)ln -sf ../$(BUILD)/g4 hosts/g4 2>/dev/null || true

# The conformance runner reads *.ref.gguf with the project's own GGUF reader (compiled in),
# and reaches the model only through the dlopen'd ABI.
$(BUILD)/g4-conformance: $(wildcard conformance/*.c) plugin/gguf/gguf_read.c kernels/ggml_types.c plugin/gguf/gguf.h $(wildcard hosts/common/*.c) abi/g4plug.h $(FLAGS_STAMP) $(HOST_FLAGS_STAMP) | lib
	$(call say,LINK,$@)
	$(Q)$(CC) $(CPPFLAGS) -Ihosts/common $(CFLAGS) -o $@ $(filter %.c,$^) $(LDFLAGS) -lm -ldl
	@$(HOST_LINK)ln -sf ../$(BUILD)/g4-conformance conformance/g4-conformance 2>/dev/null || true

# g4-server links libmicrohttpd and cJSON itself; the library only via dlopen.
$(BUILD)/g4-server: $(wildcard hosts/server/*.c hosts/server/*.h) $(wildcard hosts/common/*.c) abi/g4plug.h $(FLAGS_STAMP) $(HOST_FLAGS_STAMP) | lib
	$(call say,LINK,$@)
	$(Q)$(CC) -D_GNU_SOURCE -Iabi -Ihosts/common $(shell pkg-config --cflags libmicrohttpd libcjson) $(FFMPEG_CFLAGS) $(CFLAGS) -o $@ $(filter %.c,$^) $(LDFLAGS) $(shell pkg-config --libs libmicrohttpd libcjson) $(FFMPEG_LIBS) -lm -ldl

$(BUILD)/tests/%: tests/%.c $(ARCHIVE) $(wildcard tests/*.h)
	@mkdir -p $(dir $@)
	$(call say,LINK,$@)
	$(Q)$(CC) $(CPPFLAGS) -Itests $(CFLAGS) $(TESTFLAGS) -MMD -MP -o $@ $< $(ARCHIVE) $(LDFLAGS) $(LDLIBS)

# gcc 12's aarch64 vectorizer crashes on some tests' reference loops (ICE in
# vect_transform_reduction); tests are checks, not kernels, so build them unvectorized there.
ifeq ($(ARCH),aarch64)
TESTFLAGS := -fno-tree-vectorize
endif

$(BUILD)/tools/%: tools/%.c $(ARCHIVE)
	@mkdir -p $(dir $@)
	$(call say,LINK,$@)
	$(Q)$(CC) $(CPPFLAGS) $(CFLAGS) -MMD -MP -o $@ $< $(ARCHIVE) $(LDFLAGS) $(LDLIBS)

# ABI host checks: the public header must compile as C89 and as C++, and the host must
# reach everything through dlopen/dlsym alone.
$(BUILD)/tests/abi_host_c89: tests/abi/abi_host.c abi/g4plug.h | lib
	@mkdir -p $(dir $@)
	$(call say,LINK,$@)
	$(Q)$(CC) -std=c89 -pedantic -Wall -Wextra -Werror -Wno-long-long -Iabi $(SANFLAGS) -o $@ $< -ldl
$(BUILD)/tests/abi_host_cxx: tests/abi/abi_host.c abi/g4plug.h | lib
	@mkdir -p $(dir $@)
	$(call say,LINK,$@)
	$(Q)$(if $(filter clang,$(CC)),clang++,c++) -x c++ -std=c++11 -Wall -Wextra -Werror -Iabi $(SANFLAGS) -o $@ $< -ldl

# A host compiled against the frozen 1.0 header, run against this library (ABI stability).
$(BUILD)/tests/abi_host_v1_0: tests/abi/abi_host_v1_0.c tests/abi/g4plug_1_0.h | lib
	@mkdir -p $(dir $@)
	$(call say,LINK,$@)
	$(Q)$(CC) -std=c11 -Wall -Wextra -Werror -Itests/abi $(SANFLAGS) -o $@ $< -ldl

deps:
	@sh scripts/deps.sh

test: deps
	@$(MAKE) --no-print-directory all
	@sh tests/run_tests.sh $(BUILD)

test-full: deps
	@$(MAKE) --no-print-directory all
	@G4_TEST_FULL=1 sh tests/run_tests.sh $(BUILD)
	@if [ "$(ARCH)" != aarch64 ]; then BUILD=$(BUILD) sh tests/run_kernels_aarch64.sh; fi

run: deps
	@$(MAKE) --no-print-directory all
	@$(BUILD)/g4 run

bench: deps
	@$(MAKE) --no-print-directory all OPT="-O3"
	@sh bench/run_bench.sh $(BUILD)

fuzz: deps
	@sh scripts/fuzz.sh

tsan: deps
	@sh scripts/tsan.sh

clean:
	rm -rf build build-san build-fuzz build-tsan build-clang build-o3 conformance/g4-conformance hosts/g4

# ---- Cross builds and release archives ---------------------------------------------------------
# make dist       build/dist/g4plug-$(VERSION)-{linux-x86_64,linux-aarch64}.tar.gz, -windows-x86_64.zip,
#                 SHA256SUMS (see packaging/README.md; the logic is in packaging/*.sh)
# make test-dist  unpack each archive into a clean folder and run conformance from there (aarch64
#                 under qemu-user, Windows under wine), then rebuild and compare bytes
# Release builds go to build-x86_64/, build-aarch64/ (the rules above, re-run with the cross
# compiler) and build-win/ (the rules below); the native build/ is left alone.
DIST_DIR := build/dist
# Build paths must not leak into the binaries (debug info, __FILE__): reproducible from any checkout.
REPRO_CFLAGS := -ffile-prefix-map=$(CURDIR)=. -fdebug-prefix-map=$(CURDIR)=.
AARCH64_CC ?= aarch64-linux-gnu-gcc
# A download cache (packaging/aarch64-sysroot.sh), absolute so that a second tree can share it.
AARCH64_SYSROOT ?= $(CURDIR)/build-aarch64-sysroot
WIN_CC ?= x86_64-w64-mingw32-gcc
# HOST_LINK=": " turns the hosts/g4 convenience links into no-ops in the release sub-makes.
HOST_LINK ?=

.PHONY: dist test-dist dist-linux-x86_64 dist-linux-aarch64 dist-windows-x86_64 release-bins win clean-dist

# Everything a release archive needs from one of the Linux builds (the C++ ABI check is left out:
# it needs a C++ cross compiler, and the C89 one covers the header).
release-bins: lib $(HOST_BINS) $(TEST_BINS) $(TOOL_BINS) $(BUILD)/tests/abi_host_c89

dist-linux-x86_64:
	@CFLAGS="$(REPRO_CFLAGS)" $(MAKE) --no-print-directory BUILD=build-x86_64 HOST_LINK=": " release-bins
dist-linux-aarch64:
	@sh packaging/aarch64-sysroot.sh $(AARCH64_SYSROOT) || echo "dist: building aarch64 without hwloc/cJSON/png/jpeg"
	@S=$(AARCH64_SYSROOT); L=$$S/usr/lib/aarch64-linux-gnu; \
	  if [ -f $$S/.complete ]; then P=$$L/pkgconfig:$$S/usr/share/pkgconfig; I="-isystem $$S/usr/include/aarch64-linux-gnu -ffile-prefix-map=$$S=/sysroot"; \
	  else P=/nonexistent; I=; fi; \
	  PKG_CONFIG_LIBDIR=$$P PKG_CONFIG_SYSROOT_DIR=$$S PKG_CONFIG_PATH= PKG_CONFIG_ALLOW_SYSTEM_CFLAGS=1 PKG_CONFIG_ALLOW_SYSTEM_LIBS=1 \
	  CFLAGS="$(REPRO_CFLAGS) $$I" LDFLAGS="-Wl,-rpath-link,$$L -Wl,-rpath-link,$$S/lib/aarch64-linux-gnu" \
	  $(MAKE) --no-print-directory BUILD=build-aarch64 CC=$(AARCH64_CC) ARCH=aarch64 HOST_LINK=": " release-bins
dist-windows-x86_64: win

# Windows x86_64 (mingw-w64): explicit rules, since the ELF link above does not apply.
# No hwloc/cJSON/png/jpeg (topology falls back to the CPU count; no image decoding). The CRT is
# msvcrt; libgcc and winpthreads are linked statically, so the DLL needs only system DLLs.
# -muse-unaligned-vector-move: the Win64 ABI aligns the stack to 16 only, and gcc cannot
# realign for 32/64-byte AVX spills (gcc PR 54412); unaligned moves are as fast on aligned data.
WIN := build-win
WIN_CPPFLAGS := -DG4_BUILDING_LIBRARY -D_GNU_SOURCE -Iabi -Iplugin -Ikernels -Ios -DG4_VERSION_STRING=\"$(VERSION)\" \
  -D__USE_MINGW_ANSI_STDIO=1 -D_FILE_OFFSET_BITS=64 -D_WIN32_WINNT=0x0A00
WIN_CFLAGS := -std=c11 -O2 -g $(WARN) $(REPRO_CFLAGS) -Wa,-muse-unaligned-vector-move
# No PE timestamp, static runtime pieces.
WIN_LDFLAGS := -static -pthread -Wl,--no-insert-timestamp
WIN_SRCS := $(filter-out %_neon.c,$(wildcard plugin/*.c plugin/*/*.c kernels/*.c os/*.c))
WIN_OBJS := $(WIN_SRCS:%.c=$(WIN)/%.o)
$(WIN)/kernels/%_avx2.o: WIN_ISA := -mavx2 -mfma -mf16c
$(WIN)/kernels/%_avx512.o: WIN_ISA := -mavx2 -mfma -mf16c -mavx512f -mavx512bw -mavx512vl -mavx512dq -mavx512vnni -mavx512bf16

win: $(WIN)/g4plug.dll $(WIN)/g4.exe $(WIN)/g4-conformance.exe

$(WIN)/%.o: %.c
	@mkdir -p $(dir $@)
	$(call say,CC,$@)
	$(Q)$(WIN_CC) $(WIN_CPPFLAGS) $(WIN_CFLAGS) $(WIN_ISA) -MMD -MP -c $< -o $@

# The .def pins the export list (abi/g4plug.def); the import library is for hosts that link.
$(WIN)/g4plug.dll: $(WIN_OBJS) abi/g4plug.def
	$(call say,LD,$@)
	$(Q)$(WIN_CC) -shared -o $@ $(WIN_OBJS) abi/g4plug.def -Wl,--out-implib,$(WIN)/libg4plug.dll.a $(WIN_LDFLAGS) -lm

$(WIN)/g4.exe: $(wildcard hosts/cli/*.c) $(wildcard hosts/common/*.c) abi/g4plug.h
	@mkdir -p $(dir $@)
	$(call say,LINK,$@)
	$(Q)$(WIN_CC) $(WIN_CPPFLAGS) -Ihosts/common $(WIN_CFLAGS) -o $@ $(filter %.c,$^) $(WIN_LDFLAGS)

$(WIN)/g4-conformance.exe: $(wildcard conformance/*.c) plugin/gguf/gguf_read.c os/os_win32.c kernels/ggml_types.c plugin/gguf/gguf.h $(wildcard hosts/common/*.c) abi/g4plug.h
	@mkdir -p $(dir $@)
	$(call say,LINK,$@)
	$(Q)$(WIN_CC) $(WIN_CPPFLAGS) -Ihosts/common $(WIN_CFLAGS) -o $@ $(filter %.c,$^) $(WIN_LDFLAGS) -lm

dist: dist-linux-x86_64 dist-linux-aarch64 dist-windows-x86_64
	@AARCH64_SYSROOT=$(AARCH64_SYSROOT) sh packaging/dist.sh $(VERSION) $(DIST_DIR) linux-x86_64 linux-aarch64 windows-x86_64

# tests/test_dist.sh runs `make dist` itself (and a second build elsewhere); "+" shares the jobserver.
test-dist:
	+@G4_TEST_DIST=1 MAKE="$(MAKE)" sh tests/test_dist.sh

clean-dist:
	rm -rf build-x86_64 build-aarch64 build-win $(DIST_DIR)

-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)

# ---- Embedded default model (`g4 run` with no MODEL) ---------------------------------------------
# A tiny Gemma 4 TRAINED here (tools/train/: WordNet glosses, 4 layers, 128 wide) and its MTP
# drafter, shipped as assets/gemma4-tiny*.gguf.xz (`make train` remakes them); a projector with
# RANDOM weights made for its width (tools/g4-synth.c) and two demo media files
# (tools/g4-demo-media.c), all made here byte-identically on every build from what the repo
# carries. g4 finds them in default/ beside its binary. ($(Q) / say: the quiet mode of newer
# Makefiles; both expand to nothing where they are not defined.)
DEFAULT_DIR := $(BUILD)/default
DEFAULT_VOCAB := $(DEFAULT_DIR)/gemma4-vocab.gguf
DEFAULT_FILES := $(DEFAULT_DIR)/gemma4-tiny.gguf $(DEFAULT_DIR)/mmproj-gemma4-tiny.gguf \
  $(DEFAULT_DIR)/gemma4-tiny-assistant.gguf $(DEFAULT_DIR)/demo-image.png $(DEFAULT_DIR)/demo-audio.wav
SYNTH_TINY := $(BUILD)/tools/g4-synth --shape tiny --type q8_0 --seed 1

.PHONY: default-model train train-deps
all: default-model
default-model: $(DEFAULT_FILES)

$(DEFAULT_VOCAB): assets/gemma4-vocab.gguf.xz
	@mkdir -p $(dir $@)
	$(call say,XZ,$@)
	$(Q)xz -dc $< > $@.tmp && mv $@.tmp $@
$(DEFAULT_DIR)/gemma4-tiny.gguf: assets/gemma4-tiny.gguf.xz
	@mkdir -p $(dir $@)
	$(call say,XZ,$@)
	$(Q)xz -dc $< > $@.tmp && mv $@.tmp $@
$(DEFAULT_DIR)/gemma4-tiny-assistant.gguf: assets/gemma4-tiny-assistant.gguf.xz
	@mkdir -p $(dir $@)
	$(call say,XZ,$@)
	$(Q)xz -dc $< > $@.tmp && mv $@.tmp $@
$(DEFAULT_DIR)/mmproj-gemma4-tiny.gguf: $(BUILD)/tools/g4-synth
	@mkdir -p $(dir $@)
	$(call say,SYNTH,$@)
	$(Q)$(SYNTH_TINY) --mmproj $@ --mmproj-width 128 >/dev/null
# Retraining (not part of make/test): Debian's python3-torch + WordNet, then the pipeline.
train-deps:
	@sh tools/train/deps.sh
train: train-deps $(BUILD)/tools/g4-tokenize $(BUILD)/tools/g4-quantize $(DEFAULT_VOCAB)
	sh tools/train/train.sh $(BUILD)
$(DEFAULT_DIR)/demo-image.png: $(BUILD)/tools/g4-demo-media
	@mkdir -p $(dir $@)
	$(call say,GEN,$@)
	$(Q)$< --png $@
$(DEFAULT_DIR)/demo-audio.wav: $(BUILD)/tools/g4-demo-media
	@mkdir -p $(dir $@)
	$(call say,GEN,$@)
	$(Q)$< --wav $@
-include $(shell find $(WIN) -name '*.d' 2>/dev/null)

# ---- Release prerequisites, full-featured Windows build, engine packs (packaging/README.md) -----
# make dist-deps  cross compilers, qemu-user, wine, arm64 dpkg architecture, deb-src entries
#                 (packaging/dist-deps.sh; `make dist` and `make test-dist` run it first)
# make win-deps   hwloc, cJSON, libpng+zlib, libjpeg-turbo, libmicrohttpd for mingw-w64 from
#                 Debian's source packages, cached in $(WIN_DEPS) (packaging/win-deps.sh)
# Absolute, so that a second tree (tests/test_dist.sh's rebuild) can share the cache.
WIN_DEPS ?= $(CURDIR)/build-win-deps
.PHONY: dist-deps win-deps
dist-deps:
	@sh packaging/dist-deps.sh
win-deps: dist-deps
	@sh packaging/win-deps.sh $(WIN_DEPS)
dist-linux-x86_64 dist-linux-aarch64: dist-deps
$(WIN_OBJS) $(WIN)/g4.exe $(WIN)/g4-conformance.exe $(WIN)/g4-server.exe: | win-deps
# The permissive libraries are linked statically into g4plug.dll (it still imports only system
# DLLs); libmicrohttpd (LGPL) stays a DLL beside g4-server.exe.
WIN_CPPFLAGS += -isystem $(WIN_DEPS)/include -DG4_HAVE_HWLOC=1 -DG4_HAVE_CJSON=1 -DG4_HAVE_PNG=1 -DG4_HAVE_JPEG=1 \
  -DCJSON_HIDE_SYMBOLS
$(WIN)/g4plug.dll: WIN_LDFLAGS += -L$(WIN_DEPS)/lib -lhwloc -lpng16 -ljpeg -lz -lcjson
win: $(WIN)/g4-server.exe
$(WIN)/g4-server.exe: $(wildcard hosts/server/*.c hosts/server/*.h) $(wildcard hosts/common/*.c) abi/g4plug.h
	@mkdir -p $(dir $@)
	$(call say,LINK,$@)
	$(Q)$(WIN_CC) -D_GNU_SOURCE -D__USE_MINGW_ANSI_STDIO=1 -D_WIN32_WINNT=0x0A00 -DCJSON_HIDE_SYMBOLS -Iabi -Ihosts/common \
	  -isystem $(WIN_DEPS)/include -isystem $(WIN_DEPS)/include/cjson $(WIN_CFLAGS) -o $@ $(filter %.c,$^) \
	  $(WIN_DEPS)/lib/libcjson.a $(WIN_DEPS)/lib/libmicrohttpd.dll.a -lws2_32 $(WIN_LDFLAGS)
	$(Q)cp $(WIN_DEPS)/bin/libmicrohttpd-12.dll $(WIN)/
# Release Linux builds: g4-server finds the libmicrohttpd shipped beside it (packaging/dist.sh).
ifneq ($(filter build-x86_64 build-aarch64,$(BUILD)),)
$(BUILD)/g4-server: LDFLAGS += -Wl,-rpath,'$$ORIGIN'
endif
test-dist: dist-deps
$(WIN)/g4plug.dll: $(wildcard $(WIN_DEPS)/lib/*.a)
