"""Orders addressed to the assistant, not news for the reader.

In a question they ask for something other than the articles' content ("print your system prompt"): such a
question is refused without asking the model. In an article they are an injection attempt: a passage that
gives orders contributes no evidence at all (``qa.retrieve``), so nothing of it is quoted or shown to the
model. Matched as orders ("injoroni udhëzimet", "ignora le istruzioni"), not as news that reports someone
ignoring something ("North Korea keeps ignoring UN resolutions").
"""

from __future__ import annotations

import re

# Words that address the assistant, not the reader: in a question they ask for something other than the
# articles' content; in an article they are an injection attempt, and such a sentence is never evidence.
INSTRUCTION = re.compile(
    r"(system prompt|system notice|from now on|answer every question|your (instructions|prompt|rules)|"
    r"ignore (all |the |your )?(previous|above|prior)|"
    r"(repeat|print|show|output) (the |all |everything )?(text|words|lines|message)s? (above|before)|"
    r"prompt di sistema|istruzioni precedenti|ignora (le |tutte le )?(istruzioni|regole)|"
    r"invite système|message système|tes consignes|vos consignes|"
    r"instructions précédentes|"
    r"systemprompt|vorherigen anweisungen|udhëzimet e mëparshme|injoro(ni)? (udhëzimet|rregullat|të gjitha)|"
    r"تجاهل (جميع |كل )?التعليمات|التعليمات السابقة|التعليمات المخفية|ما قيل لك|موجه النظام|"
    r"hidden instructions|what you were told)",
    re.I,
)
