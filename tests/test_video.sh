#!/bin/sh
# Video end to end: clips generated here with the ffmpeg tool (known frame count, rate and a
# 440 Hz tone; a rotated one, a long one, one without sound and broken ones), then
#   - build/tests/video_host_check: FFmpeg decoding and the pipeline against the ffmpeg tool's
#     own frames, the library's rules and clear errors (tests/video/video_host_check.c);
#   - g4 run ... --video: the summary line, the laid-out prompt with its mm:ss timestamps,
#     --no-audio, the refusal of a video that cannot fit, bad options.
# Usage: sh tests/test_video.sh BUILD_DIR
BUILD=${1:-build}
FIX=${G4_FIXTURES:-../shared/fixtures}/gemma4
MODEL=$FIX/tiny-gemma4-unified-bf16.gguf
MMPROJ=$FIX/mmproj-tiny-gemma4-unified-f32.gguf
pass=0; fail=0
ok() { pass=$((pass+1)); }
bad() { fail=$((fail+1)); echo "FAIL test_video.sh: $*"; }
if ! command -v ffmpeg >/dev/null 2>&1 || [ ! -x "$BUILD/tests/video_host_check" ]; then
  # scripts/deps.sh installs FFmpeg; a build without it has no video to test.
  echo "test_video.sh: SKIP (no ffmpeg tool or no FFmpeg build: run make deps)"
  echo "test_video.sh: 0 passed, 0 failed"
  exit 0
fi
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
ff() { ffmpeg -nostdin -v error -y "$@"; }
# 320x240, 10 fps, 6 s (60 frames), 440 Hz sine; a keyframe every 20 frames
ff -f lavfi -i testsrc2=size=320x240:rate=10:duration=6 -f lavfi -i sine=frequency=440:sample_rate=44100:duration=6 \
   -c:v libx264 -preset ultrafast -g 20 -pix_fmt yuv420p -c:a aac -shortest "$T/clip.mp4" &&
ff -i "$T/clip.mp4" -sws_flags bicubic+accurate_rnd+full_chroma_int -f rawvideo -pix_fmt rgb24 "$T/clip.rgb" &&
ff -f lavfi -i testsrc2=size=64x48:rate=10:duration=120 -c:v libx264 -preset ultrafast -g 10 -pix_fmt yuv420p "$T/long.mp4" &&
ff -i "$T/long.mp4" -sws_flags bicubic+accurate_rnd+full_chroma_int -vf "select='eq(n,0)+eq(n,300)+eq(n,600)+eq(n,900)'" -fps_mode passthrough -f rawvideo -pix_fmt rgb24 "$T/long_sel.rgb" &&
ff -i "$T/clip.mp4" -c copy -metadata:s:v:0 rotate=90 "$T/rot.mp4" &&
ff -i "$T/rot.mp4" -sws_flags bicubic+accurate_rnd+full_chroma_int -frames:v 1 -f rawvideo -pix_fmt rgb24 "$T/rot0.rgb" &&
ff -f lavfi -i testsrc2=size=160x120:rate=10:duration=3 -vf "setpts='if(lt(N,10),N/(10*TB),(1+(N-10)/2)/TB)'" -fps_mode vfr -c:v libx264 -preset ultrafast -pix_fmt yuv420p "$T/vfr.mkv" &&
ff -i "$T/vfr.mkv" -sws_flags bicubic+accurate_rnd+full_chroma_int -fps_mode passthrough -f rawvideo -pix_fmt rgb24 "$T/vfr.rgb" &&
ff -f lavfi -i testsrc2=size=160x120:rate=25:duration=2 -c:v libx264 -preset ultrafast -pix_fmt yuv420p "$T/silent.mp4" &&
ff -f lavfi -i testsrc2=size=64x48:rate=10 -frames:v 0 -c:v libx264 "$T/zero.mp4" &&
ff -f lavfi -i testsrc2=size=32x24:rate=5:duration=1 -c:v rawvideo -pix_fmt bgr24 "$T/absurd0.avi" &&
ff -i "$T/clip.mp4" -c copy -movflags +faststart "$T/fast.mp4" || { bad "generating clips"; echo "test_video.sh: $pass passed, $((fail+1)) failed"; exit 1; }
# broken files
head -c 4000 /dev/urandom >"$T/corrupt.bin"
: >"$T/empty.mp4"
head -c 60000 "$T/clip.mp4" >"$T/trunc.mp4"              # moov (at the end) is gone
size=$(wc -c <"$T/fast.mp4"); head -c $((size / 3)) "$T/fast.mp4" >"$T/cut.mp4"  # header first, data cut
python3 - "$T" <<'EOF'
import struct, sys
d = sys.argv[1]
b = bytearray(open(d + '/absurd0.avi', 'rb').read())   # BITMAPINFOHEADER says 20000x10000
i = b.find(b'strf'); struct.pack_into('<ii', b, i + 12, 20000, 10000)
open(d + '/absurd.avi', 'wb').write(b)
b = bytearray(open(d + '/clip.mp4', 'rb').read())       # the video track claims 10 hours of frames
i = b.find(b'stts'); struct.pack_into('>I', b, i + 12, 360000)
open(d + '/long10h.mp4', 'wb').write(b)
EOF

# 1. the host-side checker
out=$("$BUILD/tests/video_host_check" "$BUILD/libg4plug.so" "$MODEL" "$MMPROJ" "$T" 2>&1); rc=$?
echo "$out"
line=$(echo "$out" | grep -E '^video_host_check: [0-9]+ passed, [0-9]+ failed' | tail -1)
p=$(echo "$line" | sed -E 's/.*: ([0-9]+) passed, ([0-9]+) failed/\1/'); f=$(echo "$line" | sed -E 's/.*: ([0-9]+) passed, ([0-9]+) failed/\2/')
pass=$((pass + ${p:-0})); fail=$((fail + ${f:-1}))
[ $rc -eq 0 ] || bad "video_host_check exited $rc"

# 2. the CLI
G4="$BUILD/g4"
out=$("$G4" run "$MODEL" "What happens?" --mmproj "$MMPROJ" --video "$T/clip.mp4" --frames 4 -n 2 --temp 0 --show-prompt 2>&1); rc=$?
[ $rc -eq 0 ] && ok || bad "g4 --video exited $rc: $out"
echo "$out" | grep -Eq "^video $T/clip.mp4 -> 4 frames, [0-9]+ soft tokens \+ [1-9][0-9]* audio tokens in [0-9]+ ms" && ok || bad "summary line: $out"
# frames 0, 15, 30, 45 of 60 at 10 fps -> 00:00 00:01 00:03 00:04 (the reference's int(s % 60))
echo "$out" | grep -q "00:00 <|image><|video|>x[0-9]*<image|><|audio><|audio|>x[0-9]*<audio|> 00:01 <|image>" && ok || bad "layout/timestamps: $out"
echo "$out" | grep -q " 00:03 <|image>.* 00:04 <|image>" && ok || bad "timestamps 3 and 4: $out"
out=$("$G4" run "$MODEL" "x" --mmproj "$MMPROJ" --video "$T/clip.mp4" --fps 1 --no-audio -n 1 --temp 0 --show-prompt 2>&1)
echo "$out" | grep -Eq -- "-> 6 frames, [0-9]+ soft tokens \+ 0 audio tokens" && ok || bad "--fps 1 --no-audio: $out"
echo "$out" | grep -q "<|audio|>" && bad "--no-audio left audio in: $out" || ok
echo "$out" | grep -q "00:05 <|image>" && ok || bad "1 fps timestamps: $out"
out=$("$G4" run "$MODEL" "x" --mmproj "$MMPROJ" --video "$T/clip.mp4" --frames 32 --ctx 512 -n 1 2>&1); rc=$?
[ $rc -ne 0 ] && echo "$out" | grep -q "needs .* prompt tokens.*--frames N" && ok || bad "refusal: $rc $out"
out=$("$G4" run "$MODEL" "x" --mmproj "$MMPROJ" --video "$T/clip.mp4" --frame-tokens 100 -n 1 2>&1); rc=$?
[ $rc -eq 2 ] && echo "$out" | grep -q "70, 140, 280, 560 or 1120" && ok || bad "bad --frame-tokens: $rc $out"
out=$("$G4" run "$MODEL" "x" --mmproj "$MMPROJ" --video "$T/corrupt.bin" -n 1 2>&1); rc=$?
[ $rc -ne 0 ] && echo "$out" | grep -q "G4_ERR_FORMAT: not a video file" && ok || bad "corrupt file: $rc $out"
out=$("$G4" run "$MODEL" "x" --video "$T/clip.mp4" -n 1 2>&1); rc=$?
[ $rc -ne 0 ] && echo "$out" | grep -q "mmproj" && ok || bad "no projector: $rc $out"
# 3. g4-server: a video_url part (data URL) in a chat completion
SRV=$BUILD/g4-server
if [ -x "$SRV" ] && command -v curl >/dev/null 2>&1; then
  # Empty the log here, not in the background child: until the child has run its ">", the
  # previous server's "listening on" line (and port) would still be read below.
  : >"$T/server.log"
  G4PLUG_LIB="$BUILD/libg4plug.so" "$SRV" --host 127.0.0.1 --port 0 -m "$MODEL" --mmproj "$MMPROJ" -c 2048 >"$T/server.log" 2>&1 &
  SPID=$!
  trap 'kill $SPID 2>/dev/null; wait $SPID 2>/dev/null; rm -rf "$T"' EXIT
  PORT=""; i=0
  while [ $i -lt 100 ] && [ -z "$PORT" ]; do
    PORT=$(sed -n 's/.*listening on http:\/\/127\.0\.0\.1:\([0-9]*\) - starting.*/\1/p' "$T/server.log"); [ -n "$PORT" ] || sleep 0.1; i=$((i+1))
  done
  URL="http://127.0.0.1:$PORT"; i=0
  while [ $i -lt 300 ] && [ "$(curl -s -o /dev/null -w '%{http_code}' "$URL/health")" != 200 ]; do sleep 0.1; i=$((i+1)); done
  vreq() { printf '{"messages":[{"role":"user","content":[{"type":"video_url","video_url":%s},{"type":"text","text":"What happens?"}]}],"temperature":0,"max_tokens":2}' "$1" >"$T/v.json"
           curl -s -m 120 -H "Content-Type: application/json" -o "$T/vo.json" -w '%{http_code}' --data-binary @"$T/v.json" "$URL/v1/chat/completions"; }
  B64V=$(base64 <"$T/clip.mp4" | tr -d '\n')
  code=$(vreq "{\"url\":\"data:video/mp4;base64,$B64V\",\"frames\":4}")
  # 4 frames x 63 + 151 audio tokens + timestamps/markers + the chat turn
  ptok=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["usage"]["prompt_tokens"])' "$T/vo.json" 2>/dev/null)
  [ "$code" = 200 ] && [ "${ptok:-0}" -gt 420 ] && ok || bad "server video_url: $code $ptok $(head -c 300 "$T/vo.json")"
  code=$(vreq "{\"url\":\"data:video/mp4;base64,$B64V\",\"frames\":4,\"audio\":false}")
  ptok2=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["usage"]["prompt_tokens"])' "$T/vo.json" 2>/dev/null)
  [ "$code" = 200 ] && [ "${ptok2:-0}" -gt 250 ] && [ "${ptok2:-0}" -lt "${ptok:-0}" ] && ok || bad "server video_url audio:false: $code $ptok2"
  code=$(vreq '{"url":"https://example.com/clip.mp4"}')
  [ "$code" = 400 ] && grep -q "no remote fetching" "$T/vo.json" && ok || bad "server remote video URL: $code $(cat "$T/vo.json")"
  code=$(vreq '{"url":"data:video/mp4;base64,AAAAAAAAAAAAAAAA"}')
  [ "$code" = 400 ] && grep -q "video: " "$T/vo.json" && ok || bad "server corrupt video: $code $(cat "$T/vo.json")"
  code=$(vreq "{\"url\":\"data:video/mp4;base64,$B64V\",\"frames\":7200}")
  [ "$code" = 400 ] && grep -q "needs" "$T/vo.json" && ok || bad "server video too long for the context: $code $(head -c 300 "$T/vo.json")"
  printf '{"messages":[{"role":"user","content":"see <|video|>"}]}' >"$T/v.json"
  code=$(curl -s -m 60 -H "Content-Type: application/json" -o "$T/vo.json" -w '%{http_code}' --data-binary @"$T/v.json" "$URL/v1/chat/completions")
  [ "$code" = 400 ] && ok || bad "server <|video|> marker injection: $code"
  kill $SPID 2>/dev/null; wait $SPID 2>/dev/null
else
  echo "test_video.sh: no g4-server or curl: server checks skipped"
fi
echo "test_video.sh: $pass passed, $fail failed"
[ $fail -eq 0 ]
