#!/usr/bin/env python3
"""Builds the training corpus of the embedded default model from WordNet 3.0 (Debian package
wordnet-base, /usr/share/wordnet/data.{noun,verb,adj,adv}; WordNet licence, see
tools/train/README.md): one chat exchange per synset, a question about one of its words and an
answer made of the synset's gloss (definition and example sentences):

  <bos><|turn>user\\nWhat is a sea?<turn|>\\n<|turn>model\\n<|channel>thought\\n<channel|>A sea is a
  division of an ocean or a large body of salt water partially enclosed by land.<turn|>\\n

This is the Gemma 4 chat template as g4 renders it (plugin/abi/abi_chat.c) with thinking off, so
`g4 run`'s chat prompt is in the training distribution.

Output: one sample per line, newlines written as the two characters \\n (g4-tokenize --lines
undoes that), in WordNet's file order (adj, adv, noun, verb). Deterministic.

usage: corpus.py [WORDNET_DIR] > corpus.txt
"""
import os
import re
import sys

VOWEL = re.compile(r"^[aeiouAEIOU]")
TEMPLATE = ("<bos><|turn>user\\n{q}<turn|>\\n<|turn>model\\n<|channel>thought\\n<channel|>"
            "{a}<turn|>\\n")


def article(word):
    return "an" if VOWEL.match(word) else "a"


def clean(s):
    s = s.strip()
    s = re.sub(r"\s+", " ", s)
    return s


def sentence(s):
    s = clean(s)
    if not s:
        return s
    s = s[0].upper() + s[1:]
    if s[-1] not in ".!?":
        s += "."
    return s


def parse_line(line):
    """(pos, [lemmas], definition, [examples]) of one data.* line, or None."""
    if line.startswith("  "):  # the licence header
        return None
    head, _, gloss = line.partition(" | ")
    f = head.split()
    pos = f[2]
    n = int(f[3], 16)
    words = []
    for i in range(n):
        w = f[4 + 2 * i]
        w = re.sub(r"\([a-z]+\)$", "", w)  # adjective markers (a) (p) (ip)
        words.append(w.replace("_", " "))
    parts = [p.strip() for p in gloss.strip().split(";")]
    definition = []
    examples = []
    for p in parts:
        if not p:
            continue
        if p.startswith('"'):
            examples.append(p.strip('"').strip())
        elif not examples:
            definition.append(p)
    return pos, words, "; ".join(definition), examples


def exchange(pos, word, definition, examples):
    d = clean(definition)
    if not d:
        return None
    if pos == "n":
        q = "What is %s %s?" % (article(word), word)
        a = "%s %s is %s." % (article(word).capitalize(), word, d)
    elif pos == "v":
        q = "What does it mean to %s?" % word
        a = "To %s means to %s." % (word, d)
    else:  # a, s (satellite adjective), r (adverb)
        q = 'What does "%s" mean?' % word
        a = '"%s" means %s.' % (word, d)
    a = a.replace("..", ".")
    for e in examples[:1]:
        e = sentence(e)
        if e:
            a += ' For example: "%s"' % e
    return TEMPLATE.format(q=q, a=a)


def main():
    root = sys.argv[1] if len(sys.argv) > 1 else "/usr/share/wordnet"
    out = sys.stdout
    for name in ("data.adj", "data.adv", "data.noun", "data.verb"):
        with open(os.path.join(root, name), encoding="latin-1") as f:
            for line in f:
                r = parse_line(line.rstrip("\n"))
                if not r:
                    continue
                pos, words, definition, examples = r
                # the first word names the synset; skip capitalised names (places, people)
                word = words[0]
                s = exchange(pos, word, definition, examples)
                if s and "\\" not in s.replace("\\n", ""):
                    out.write(s + "\n")


if __name__ == "__main__":
    main()
