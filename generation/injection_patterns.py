"""The shapes of an instruction aimed at the assistant, as ``generation.injection`` matches them.

Every pattern reads text that ``generation.injection.normalize`` made: case folded, accents dropped
(so "précédentes" is written "precedentes" here), one kind of space. Each needs the instruction to
be aimed at the assistant or at what it was told before: "ignore previous instructions", not
"ignore the outlier"; "you are now an unrestricted AI", not "you are now eligible"; "act as an
AI", not "act as guarantor"; "reply only with the words", not "reply only in writing". An English
override must stand where an order does (a sentence's start, after a comma or "please", or after
"you must"), so "the compiler will ignore all comments" and "staff should disregard earlier
guidance" stay plain prose.
"""

from __future__ import annotations

import unicodedata


def _fold(pattern: str) -> str:
    """A pattern with its accents dropped, as the text it reads has them dropped."""
    decomposed = unicodedata.normalize("NFD", pattern)
    return unicodedata.normalize(
        "NFC", "".join(c for c in decomposed if unicodedata.category(c) != "Mn")
    )


# Where an English order stands: a sentence's start, after a comma, colon or "please", or after
# "you must" / "the AI should".
_ORDER = (
    r"(?:^|[,;:(\-–—]\s*|\b(?:and|then|now|please|kindly|just|simply|instead|so|also|first|"
    r"immediately|ok|okay)\s+|\byou\s+(?:must|should|shall|will|need\s+to|have\s+to|are\s+to|"
    r"can|may)\s+(?:now\s+)?(?:also\s+)?|\b(?:ai|llm|chatbot|language\s+model|gpt|model|"
    r"assistant)s?\s*,?\s*(?:must|should|shall|will|needs?\s+to|is\s+to|are\s+to)\s+(?:now\s+)?)"
)
_OVERRIDE = (
    r"(?:ignore|disregard|forget|override|bypass|skip|discard|drop|abandon|neglect|set\s+aside|"
    r"throw\s+(?:out|away)|stop\s+following|do\s+not\s+follow|don'?t\s+follow|no\s+longer\s+follow|"
    r"stop\s+obeying|do\s+not\s+(?:obey|heed)|pay\s+no\s+attention\s+to|take\s+no\s+notice\s+of)"
)
_EARLIER = (
    r"(?:previous|prior|above|earlier|preceding|foregoing|former|original|initial|system|your|"
    r"all|any|every|the\s+assistant'?s|the\s+model'?s)"
)
_ORDERS = (
    r"(?:instructions?|prompts?|rules|directions|directives?|guidelines|guidance|context|"
    r"programming|constraints|restrictions|commands|orders|training|policies|messages|input)"
)
_AI = (
    r"(?:ai|a\.i\.|ai\s+assistant|ai\s+model|language\s+model|large\s+language\s+model|llm|"
    r"chatbot|gpt|chatgpt)"
)
_TO_YOU = (
    r"\b(?:you|your|ignore|disregard|forget|reveal|obey|answer|respond|reply|say|output|print|"
    r"do\s+not|don'?t|never|always|stop|from\s+now\s+on)\b"
)
# words that turn a "System:" line into an order to the assistant ("System: you are now ...")
_TO_YOU_STRONG = r"\b(?:you|your|ignore|disregard|forget|reveal|obey|from\s+now\s+on)\b"
_ROLE = (
    r"(?:dan|ai|a\.i\.|assistant|chatbot|bot|gpt|llm|jailbroken|unrestricted|unfiltered|"
    r"uncensored|developer\s+mode|dev\s+mode|god\s+mode|admin\s+mode|hacker|evil|malicious|"
    r"free\s+(?:of|from)|no\s+longer\s+(?:bound|restricted|limited)|without\s+(?:any\s+)?"
    r"(?:rules|restrictions|limits|filters)|pirate|persona)"
)

_ENGLISH = [
    # overrides: "ignore all previous instructions", "please disregard the rules above"
    _ORDER
    + _OVERRIDE
    + r"\b[^.!?]{0,30}?\b"
    + _EARLIER
    + r"\b[^.!?]{0,25}?\b"
    + _ORDERS
    + r"\b(?!\s+of\s+thumb)",
    _ORDER + _OVERRIDE + r"\s+(?:the\s+|all\s+|any\s+)?" + _ORDERS + r"\b[^.!?]{0,25}?\b(?:above|"
    r"before|earlier|so\s+far|previously|you\s+(?:were|have\s+been)\s+(?:given|told)|you\s+(?:received|"
    r"got))\b",
    _ORDER + _OVERRIDE + r"\s+(?:the|this|that)\s+(?:context|prompt|system\s+prompt)\b",
    _ORDER + _OVERRIDE + r"\s+(?:about\s+)?(?:everything|anything|all|all\s+of\s+(?:this|that|it)|"
    r"whatever)\b[^.!?]{0,20}?\b(?:above|before|so\s+far|until\s+now|up\s+to\s+(?:now|this\s+point)|"
    r"previously|earlier|you\s+(?:were|have\s+been|'ve\s+been)\s+(?:told|given|instructed|shown|"
    r"taught)|(?:that|which)\s+(?:came|comes|was\s+said|was\s+written)\s+(?:before|above|earlier))",
    # role hijack
    r"\byou(?:\s+are|'re|\s+r)\s+now\b[^.!?]{0,40}?\b" + _ROLE + r"\b",
    r"\byou(?:\s+are|'re)\s+no\s+longer\s+(?:an?\s+)?(?:ai|assistant|chatbot|bot|bound|restricted|"
    r"limited|required\s+to\s+follow)\b",
    _ORDER
    + r"(?:act|behave|roleplay|role-play|role\s+play|pose|respond|answer|reply|continue)\s+as\s+"
    r"(?:if\s+you\s+(?:were|are)\s+)?(?:an?\s+|the\s+)?(?:[\w-]+\s+){0,3}?" + _ROLE + r"\b",
    r"\bpretend(?:\s+to\s+be|\s+(?:that\s+)?you(?:\s+are|'re))\b[^.!?]{0,40}?\b(?:" + _AI + r"|"
    r"assistant|bot|unrestricted|unfiltered|without\s+(?:any\s+)?(?:rules|restrictions|limits|"
    r"filters)|no\s+(?:rules|restrictions|limits|filters))\b",
    r"^\W{0,3}(?:system|developer|assistant|admin|administrator|root)(?:\s+(?:message|prompt|note|"
    r"instructions?|override|update))?\s*[:>\]|]\s*[^.!?]{0,80}?" + _TO_YOU_STRONG,
    r"\b(?:new|updated|revised|real|actual|hidden|secret|important|urgent)?\s*system\s+(?:prompt|"
    r"instruction|override|directive|command)\s*:",
    r"\byou(?:\s+have|'ve)\s+been\s+(?:reprogrammed|jailbroken|unlocked|freed|given\s+new\s+"
    r"instructions)\b",
    r"\boverrides?\s+your\s+(?:configuration|instructions|rules|programming|system\s+prompt|"
    r"guidelines)\b",
    r"\b(?:everything|all)\s+(?:above|before)\s+(?:this|here)\b[^.!?]{0,30}?\b(?:was|is)\s+(?:a\s+"
    r"test|fake|not\s+real|irrelevant)\b",
    r"\bthe\s+(?:real|actual|true)\s+(?:task|instructions?|prompt)\s+(?:is|are)\b",
    r"\bsystem\s+override\b",
    r"\bnew\s+(?:instructions?|rules|task|directive|orders)\s*:\s*[^.!?]{0,60}?\b(?:you|your|ignore|"
    r"disregard|forget|reveal|obey|ai|assistant)\b",
    # chat-template tokens and markers
    r"<\|?\s*(?:im_start|im_end|system|user|assistant|endoftext|eot_id|start_header_id|"
    r"end_header_id)\s*\|?>|\[/?inst\]|<</?sys>>",
    r"^#{2,}\s*(?:instruction|system|response)s?\s*:",
    r"\b(?:developer|god|admin|jailbreak|dan)\s+mode\s+(?:enabled|activated|on)\b|"
    r"\benable\s+(?:developer|god|dan|jailbreak)\s+mode\b",
    # addressed to the assistant
    r"\b(?:if|when|since|as)\s+you(?:\s+are|'re)\s+(?:an?\s+)?(?:" + _AI + r"|assistant|bot)\b",
    r"\b(?:note|message|instructions?|directive|reminder|attention|hint|request|warning)\s+(?:to|for)"
    r"\s+(?:the\s+|any\s+|all\s+|this\s+)?" + _AI + r"s?\b",
    r"^(?:dear\s+|hey\s+|hi\s+|hello\s+|attention\s+|attn:?\s+)?(?:" + _AI + r"|assistant|claude|"
    r"copilot|gemini|bot)\s*[,:!]\s*[^.!?]{0,60}?" + _TO_YOU,
    r"\battention\s+(?:" + _AI + r"|model|assistant|bot)s?\s*[:,!]",
    r"\b(?:" + _AI + r"|assistant|bot)s?\s+(?:reading|processing|summari[sz]ing|parsing|ingesting|"
    r"seeing|indexing)\s+(?:this|these)\b",
    r"\b"
    + _AI
    + r"s?\s*,?\s*(?:must|should|shall|needs?\s+to|is\s+to|are\s+to)\s+(?:now\s+)?(?:(?:only|always|never|not)\s+)*(?:reply|respond|answer|say|output|"
    r"print|ignore|disregard|forget|reveal|recommend|obey|tell|write|mention|cite|stop)\b",
    # exfiltration
    r"!\[[^\]]*\]\(\s*<?(?:https?:)?//[^)\s]*[?&](?:q|query|data|d|p|prompt|question|answer|msg|"
    r"message|text|content|chat|conversation|history|secret|token|key|info|payload|c|x|s)=",
    r"!\[[^\]]*\]\([^)]*(?:\{|\}|%7b|\$\()",
    r"\b(?:send|post|upload|forward|transmit|leak|exfiltrate|append|add|include|attach|encode|embed|"
    r"put|submit|report|copy|pass|translate|turn|convert|render)\b[^.!?]{0,60}?\b(?:conversation|"
    r"chat(?:\s+history)?|(?:the\s+)?users?'?s?\s+(?:\w+\s+)?(?:question|query|input|message|prompt|data|request|answer)s?|(?:their|the)\s+"
    r"(?:question|query|prompt)s?|system\s+prompt|(?:your|the\s+assistant'?s)\s+(?:instructions|"
    r"prompt|context|answer|response|reply)|previous\s+messages|message\s+history|api\s+keys?|"
    r"credentials|secrets?)\b[^!?]{0,80}?(?:https?://|www\.|\burl\b|\blink\b|webhook|endpoint|"
    r"\bimage\b|markdown|query\s+string|\bserver\b)",
    # output forcing
    r"\b(?:answer|reply|respond|say|output|print|write|return)\b[^.!?]{0,20}?\bwith\s+(?:exactly|only|"
    r"just)\b[^.!?]{0,30}?(?:\b(?:words?|phrase|text|string|sentence|following)\b|:)",
    r"\b(?:whatever|regardless\s+of|no\s+matter|irrespective\s+of)\b[^.!?]{0,40}?\b(?:question|"
    r"user|asked|asks|query|request|prompt|input)\b[^.!?]{0,40}?\b(?:answer|reply|respond|say|"
    r"output|print|write)\s+(?:with|only|exactly|just|that|[:\"'“])",
    r"\b(?:respond|reply|answer)\s+to\s+(?:every|each|any|all)\s+(?:questions?|query|queries|"
    r"requests?|prompts?)\s+with\b",
    r"\b(?:respond|reply|answer|say|output|print|write)\s+(?:only|exactly|just)\s+(?:with\s+)?"
    r"(?:the\s+)?(?:words?|phrase|string|text|token)\b",
    r"(?:^|[,;:]\s*|\band\s+|\bplease\s+)(?:do\s+not|don'?t|never|stop)\s+(?:cite|mention|reference|"
    r"name|list|show)\s+(?:any\s+|the\s+|your\s+)?(?:sources?|documents?|passages?|context|"
    r"citations?)\s*(?:$|[.!,;]|\band\b|\bin\s+(?:your|the)\s+(?:answer|response|reply)|\bwhen\b)",
    # asking for the prompt, other users' data, secrets
    r"\b(?:reveal|print|output|repeat|leak|dump|disclose|recite|show|display|tell\s+me|give\s+me|"
    r"return|write\s+out|spell\s+out|list|expose)\b[^.!?]{0,40}?\b(?:system\s?prompt|(?:your|"
    r"the\s+assistant'?s|the\s+model'?s)\s+(?:instructions|prompt|rules|system\s+message|"
    r"configuration|guidelines|directives|initial\s+prompt)|(?:initial|hidden|original|secret|"
    r"internal|full)\s+(?:prompt|instructions|system\s+message)|(?:every|all|any)\s+other\s+"
    r"collections?|(?:documents|files)\s+(?:of|in|from)\s+(?:every|all|any)\s+other|other\s+"
    r"(?:users'?|people'?s|customers'?|tenants'?)\s+(?:documents|files|data|collections|questions)|"
    r"(?:admin|administrator|root|database)\s+(?:passwords?|credentials))\b",
    r"\b(?:reply|respond|answer)\s+with\s+(?:the\s+)?(?:admin|administrator|root|database)\s+"
    r"(?:password|credentials)",
    r"\bdecode\b[^.!?]{0,40}?\b(?:base64|rot13|hex|binary)\b[^.!?]{0,40}?\b(?:follow|execute|obey|"
    r"run|do\s+what|apply)\b",
]

_OTHER = [
    # German
    r"\b(?:ignorier(?:e|en|t)?|missachte[nt]?|vergiss|vergesst|vergessen\s+sie|uberspring(?:e|en)?|"
    r"umgeh(?:e|en)?)\b[^.!?]{0,30}?\b(?:alle[nsr]?|vorherigen?|bisherigen?|obigen?|vorangegangenen?|"
    r"vorigen?|fruheren?|deine[nr]?|ihre[nr]?|ursprunglichen?|system\w*)\b[^.!?]{0,20}?\b(?:anweisung|"
    r"anweisungen|instruktionen|regeln|befehle|vorgaben|anordnungen|richtlinien|prompts?|kontext|"
    r"systemprompt)\b",
    r"\b(?:vergiss|vergesst|vergessen\s+sie|ignoriere|ignorieren\s+sie)\s+alles\b[^.!?]{0,40}?\b(?:"
    r"vorher|zuvor|oben|bisher|gesagt|davor|bis\s+jetzt)\b",
    r"\b(?:du\s+bist|sie\s+sind|ihr\s+seid)\s+(?:jetzt|nun|ab\s+jetzt|ab\s+sofort|ab\s+heute)\b"
    r"[^.!?]{0,40}?\b(?:assistent\w*|ki|bot|chatbot|uneingeschrankt\w*|ohne\s+(?:regeln|"
    r"einschrankungen|grenzen|filter)|frei\s+von|dan|hacker)\b",
    r"\b(?:gib|zeige?|verrate|wiederhole|nenne)\b[^.!?]{0,40}?\b(?:system-?prompt|systemanweisung\w*|"
    r"deine\s+(?:anweisungen|instruktionen|regeln))\b",
    # French
    r"\b(?:ignore[rz]?|oublie[rz]?|ne\s+tenez\s+pas\s+compte|ne\s+tiens\s+pas\s+compte|faites\s+"
    r"abstraction|fais\s+abstraction|contourne[rz]?)\b[^.!?]{0,40}?\b(?:instructions|consignes|regles|"
    r"directives|ordres|commandes|indications)\b[^.!?]{0,30}?\b(?:precedentes?|anterieures?|"
    r"ci-dessus|plus\s+haut|prealables|initiales?|d'origine|systeme|qui\s+precedent)\b",
    r"\b(?:ignore[rz]?|oublie[rz]?)\s+(?:vos|tes|toutes\s+(?:les\s+|vos\s+|tes\s+)?)(?:instructions|"
    r"consignes|regles|directives)\b",
    r"\b(?:oublie[rz]?|ignore[rz]?)\s+tout\s+(?:ce\s+qui\s+(?:precede|a\s+ete\s+dit|est\s+au-dessus|"
    r"est\s+ecrit\s+(?:avant|plus\s+haut))|ce\s+que\s+(?:l'on\s+|on\s+)?(?:t'a|vous\s+a)|le\s+reste)",
    r"\b(?:tu\s+es|vous\s+etes)\s+(?:maintenant|desormais|a\s+present)\b[^.!?]{0,40}?\b(?:assistant|"
    r"ia|bot|chatbot|sans\s+(?:aucune\s+)?(?:restrictions?|regles?|limites?|filtres?)|libre|pirate|"
    r"dan)\b",
    r"\b(?:revele[rz]?|affiche[rz]?|montre[rz]?|donne[rz]?|repete[rz]?|imprime[rz]?|divulgue[rz]?)\b"
    r"[^.!?]{0,40}?\b(?:prompt\s+(?:du\s+)?systeme|invite\s+systeme|(?:vos|tes)\s+(?:instructions|"
    r"consignes))\b",
    # Spanish
    r"\b(?:ignora|ignore|ignorar|ignoren|olvida|olvide|olvidar|olviden|omite|omita|descarta|descarte|"
    r"haz\s+caso\s+omiso\s+de|haga\s+caso\s+omiso\s+de|no\s+sigas|no\s+siga)"
    r"\b[^.!?]{0,40}?\b(?:instrucciones|reglas|indicaciones|ordenes|directrices|normas|directivas)\b"
    r"[^.!?]{0,30}?\b(?:anteriores|previas|precedentes|de\s+arriba|del\s+sistema|iniciales|"
    r"originales)\b",
    r"\b(?:ignora|ignore|olvida|olvide)\s+(?:tus|sus|todas\s+(?:las\s+|tus\s+|sus\s+)?)(?:"
    r"instrucciones|reglas|indicaciones|directrices)\b",
    r"\b(?:olvida|olvide|ignora|ignore)\s+todo\s+lo\s+(?:anterior|que\s+(?:te|se\s+te|le)\s+"
    r"(?:han?\s+dicho|dijeron|dije))",
    r"\b(?:ahora\s+eres|ahora\s+es\s+usted|a\s+partir\s+de\s+ahora\s+eres|desde\s+ahora\s+eres|ya\s+"
    r"no\s+eres)\b[^.!?]{0,40}?\b(?:asistente|ia|bot|chatbot|sin\s+(?:restricciones|reglas|limites|"
    r"filtros)|libre|pirata|dan|hacker)\b",
    r"\b(?:muestra|muestre|revela|revele|imprime|imprima|dime|repite|repita)\b[^.!?]{0,40}?\b(?:"
    r"prompt\s+del\s+sistema|indicaciones\s+del\s+sistema|(?:tus|sus)\s+instrucciones)\b",
    # Italian
    r"\b(?:ignora|ignorate|ignori|dimentica|dimenticate|dimentichi|trascura|tralascia|non\s+seguire|"
    r"non\s+segua|non\s+seguite)\b[^.!?]{0,40}?"
    r"\b(?:istruzioni|regole|indicazioni|direttive|ordini)\b[^.!?]{0,30}?\b(?:precedenti|anteriori|"
    r"sopra|di\s+sistema|del\s+sistema|iniziali|originali)\b",
    r"\b(?:ignora|ignorate|dimentica|dimenticate)\s+(?:le\s+tue|tutte\s+le(?:\s+tue)?)\s+(?:istruzioni"
    r"|regole|indicazioni)\b",
    r"\b(?:dimentica|dimenticate|ignora)\s+tutto\s+(?:quello|cio|quanto)\b",
    r"\b(?:ora|adesso|da\s+ora|d'ora\s+in\s+poi)\s+sei\b[^.!?]{0,40}?\b(?:assistente|ia|bot|chatbot|"
    r"senza\s+(?:restrizioni|regole|limiti|filtri)|libero|dan|hacker)\b",
    r"\b(?:rivela|mostra|stampa|ripeti|dimmi)\b[^.!?]{0,40}?\b(?:prompt\s+di\s+sistema|prompt\s+del\s+"
    r"sistema|(?:tue|sue)\s+istruzioni)\b",
    # Portuguese
    r"\b(?:ignore|ignora|ignorar|ignorem|esqueca|esquece|esquecer|desconsidere|desconsidera|despreze|"
    r"nao\s+siga|nao\s+sigas|nao\s+sigam)"
    r"\b[^.!?]{0,40}?\b(?:instrucoes|regras|orientacoes|diretrizes|comandos|ordens|indicacoes)\b"
    r"[^.!?]{0,30}?\b(?:anteriores|previas|acima|do\s+sistema|iniciais|originais)\b",
    r"\b(?:ignore|ignora|esqueca|esquece|desconsidere)\s+(?:suas|tuas|todas\s+as(?:\s+suas)?)\s+"
    r"(?:instrucoes|regras|orientacoes)\b",
    r"\b(?:esqueca|esquece|ignore|desconsidere)\s+tudo\s+(?:o\s+que|isso|acima|antes|o\s+anterior)",
    r"\b(?:voce\s+agora\s+e|agora\s+voce\s+e|a\s+partir\s+de\s+agora\s+voce\s+e|tu\s+es\s+agora|voce"
    r"\s+nao\s+e\s+mais)\b[^.!?]{0,40}?\b(?:assistente|ia|bot|chatbot|sem\s+(?:restricoes|regras|"
    r"limites|filtros)|livre|dan|hacker)\b",
    r"\b(?:revele|revela|mostre|mostra|imprima|repita|diga)\b[^.!?]{0,40}?\b(?:prompt\s+do\s+sistema|"
    r"(?:suas|tuas)\s+instrucoes)\b",
    # Dutch
    r"\b(?:negeer|negeren|vergeet|vergeten|omzeil)\b[^.!?]{0,40}?\b(?:vorige|eerdere|bovenstaande|"
    r"voorgaande|alle|je|jouw|uw|oorspronkelijke|systeem)\b[^.!?]{0,20}?\b(?:instructies|instructie|"
    r"regels|aanwijzingen|opdrachten|richtlijnen|prompt)\b",
    r"\bvolg\b[^.!?]{0,20}?\b(?:vorige|eerdere|bovenstaande|voorgaande|alle)\s+(?:instructies|regels|"
    r"aanwijzingen|opdrachten)\s+niet\b",
    r"\b(?:vergeet|negeer)\s+alles\s+(?:hierboven|wat|eerder|daarvoor|hiervoor|voorafgaand)",
    r"\b(?:je\s+bent|jij\s+bent|u\s+bent)\s+(?:nu|vanaf\s+nu|voortaan)\b[^.!?]{0,40}?\b(?:assistent|"
    r"ai|bot|chatbot|zonder\s+(?:beperkingen|regels|grenzen|filters)|onbeperkt\w*|dan|hacker)\b",
    r"\b(?:toon|laat|geef|herhaal|onthul|print)\b[^.!?]{0,40}?\b(?:systeemprompt|systeem\s+prompt|"
    r"systeeminstructies|(?:je|jouw|uw)\s+instructies)\b",
    # Polish, Swedish, Turkish
    r"\b(?:zignoruj|ignoruj|zapomnij|pomin)\b[^.!?]{0,40}?\b(?:instrukcje|polecenia|zasady|regu[lł]y|"
    r"wytyczne)\b",
    r"\b(?:ignorera|glom|strunta\s+i)\b[^.!?]{0,40}?\b(?:instruktioner|instruktionerna|regler|"
    r"reglerna|anvisningar)\b",
    r"\b(?:onceki|yukaridaki|tum)\s[^.!?]{0,30}?(?:talimat\w*|kural\w*|komut\w*)[^.!?]{0,30}?(?:yok\s+"
    r"say|gormezden\s+gel|unut|dikkate\s+alma)",
    # Russian
    r"(?:игнорируй|игнорируйте|проигнорируй|проигнорируйте|забудь|забудьте|не\s+обращай\s+внимания"
    r"\s+на)[^.!?]{0,40}?(?:инструкци|указани|правил|команд|промпт)",
    r"\bты\s+теперь\b[^.!?]{0,40}?(?:ассистент|бот|без\s+ограничений|свободн)",
    # Chinese, Japanese
    r"(?:忽略|无视|忽视|忘记|忘掉|不要理会)[^。！？]{0,10}(?:之前|以前|先前|上面|以上|上述|所有|全部)"
    r"[^。！？]{0,10}(?:指令|指示|说明|规则|提示|要求)",
    r"你现在是[^。！？]{0,20}(?:助手|机器人|没有限制|不受限制)",
    r"(?:以前|前|上記|これまで|先)の[^。！？]{0,10}(?:指示|命令|ルール|指令|プロンプト)[^。！？]{0,15}"
    r"(?:無視|忘れ)",
]

PATTERNS: list[str] = [_fold(p) for p in _ENGLISH + _OTHER]

# Phrases matched with every non-letter taken out ("i g n o r e  a l l ...", "ig-nore").
SQUASHED: tuple[str, ...] = (
    "ignoreallpreviousinstructions",
    "ignorepreviousinstructions",
    "ignoreallpriorinstructions",
    "ignorepriorinstructions",
    "ignoretheaboveinstructions",
    "ignoreyourinstructions",
    "ignoreallinstructions",
    "disregardallpreviousinstructions",
    "disregardpreviousinstructions",
    "disregardallprior",
    "disregardtheaboveinstructions",
    "forgetallpreviousinstructions",
    "forgetyourinstructions",
    "revealyoursystemprompt",
    "printyoursystemprompt",
    "ignoriereallevorherigenanweisungen",
    "ignoreztouteslesinstructions",
    "ignoratodaslasinstrucciones",
)
