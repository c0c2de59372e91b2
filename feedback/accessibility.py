"""The accessibility statement (saavutettavuusseloste), built from live configuration in fi, sv
and en, as the law on providing digital services (laki digitaalisten palvelujen tarjoamisesta,
306/2019) and the European Accessibility Act ask.

What the system knows is not written as a constant: the controller and its e-mail come from
`ControllerDetails` (admin), the date of the last review from `CHAT_ACCESSIBILITY_REVIEWED_ON`,
the answer period from the feedback model, and the conformance from the list of what is known
not to conform (empty: the statement says the chat conforms; otherwise "partially"). That list
is the open findings of the manual review in docs/accessibility.md; a fix removes its line here.

Like the privacy notice, each language is authored as a whole text.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.utils import formats, translation

from chat.bidi import isolate_plain, strip_bidi_controls
from chat.models import ControllerDetails
from chat.privacy import LANGUAGE_NAMES, NOTICE_LANGUAGES, retention_period_text

from .models import ACCESSIBILITY_ANSWER_DAYS, ACCESSIBILITY_MESSAGE_MAX_CHARS

#: Open findings of the last review (docs/accessibility.md): (WCAG criterion, text per language).
KNOWN_ISSUES: list[tuple[str, dict[str, str]]] = [
    # Empty since 2026-12-07: the last one (2.2.1, the console's absolute sign-in limit came
    # without warning) is fixed; the console now warns five minutes before and a new sign-in in
    # another tab carries the console on (static/console/idle.js).
]

#: Traficom supervises digital accessibility in Finland since 1 January 2025 (before: the
#: Regional State Administrative Agency for Southern Finland).
AUTHORITY_URL = "https://www.traficom.fi/"

TEXTS: dict[str, dict[str, Any]] = {
    "fi": {
        "title": "Saavutettavuusseloste",
        "intro": (
            "Tämä seloste koskee asiakaspalvelun chattia, jota {controller} tarjoaa "
            "verkkosivuillaan (chat-ikkuna ja sen tietosuojaseloste), sekä asiakaspalvelijoiden "
            "chat-konsolia. "
            "Saavutettavuusvaatimukset perustuvat lakiin digitaalisten palvelujen tarjoamisesta "
            "ja Euroopan esteettömyysdirektiiviin. Tavoitteena on WCAG 2.1 -ohjeiston AA-taso."
        ),
        "controller_default": "rekisterinpitäjä",
        "h_status": "Saavutettavuuden tila",
        "status_full": "Chat täyttää WCAG 2.1 -ohjeiston AA-tason vaatimukset.",
        "status_partial": (
            "Chat täyttää WCAG 2.1 -ohjeiston AA-tason vaatimukset osittain. Puutteet on "
            "lueteltu alla."
        ),
        "h_issues": "Sisällöt, jotka eivät ole saavutettavia",
        "h_review": "Miten saavutettavuus on arvioitu",
        "review": (
            "Saavutettavuus on arvioitu itse: jokainen WCAG 2.1 A- ja AA-tason kriteeri on käyty "
            "läpi käsin näppäimistöllä, ruudunlukijan nimillä, 200 %:n suurennuksella ja 320 "
            "pikselin levyisellä näytöllä, ja sivut tarkistetaan lisäksi automaattisesti "
            "axe-työkalulla jokaisen muutoksen yhteydessä."
        ),
        "reviewed": "Seloste on viimeksi tarkistettu",
        "h_feedback": "Anna palautetta saavutettavuudesta",
        "feedback": (
            "Huomasitko puutteen saavutettavuudessa? Kerro siitä alla olevalla lomakkeella{email}. "
            "Vastaamme {days} päivän kuluessa."
        ),
        "feedback_email": " tai sähköpostitse osoitteeseen {email}",
        "feedback_privacy": (
            "Lomakkeelta tallennetaan vain kirjoittamasi viesti, sivun kieli ja halutessasi "
            "antamasi sähköpostiosoite vastausta varten; ei IP-osoitetta eikä muita tietoja "
            "sinusta. Viesti poistetaan automaattisesti {period} kuluttua."
        ),
        "h_authority": "Valvontaviranomainen",
        "authority": (
            "Jos huomaat saavutettavuusongelmia, anna ensin palautetta meille. Jos et ole "
            "tyytyväinen vastaukseen tai et saa vastausta {days} päivän kuluessa, voit tehdä "
            "ilmoituksen valvontaviranomaiselle. Digitaalisten palvelujen saavutettavuutta "
            "valvoo Liikenne- ja viestintävirasto Traficom."
        ),
        "authority_link": "Liikenne- ja viestintävirasto Traficom, saavutettavuusvalvonta",
        "languages": "Kieli",
        "form_message": "Palautteesi",
        "form_message_help": (
            "Kerro, mikä sivu tai toiminto ei toiminut ja miten. Enintään {max} merkkiä."
        ),
        "form_email": "Sähköpostiosoite vastausta varten (vapaaehtoinen)",
        "form_send": "Lähetä palaute",
        "sent": (
            "Kiitos palautteestasi! Jos annoit sähköpostiosoitteen, vastaamme {days} päivän "
            "kuluessa."
        ),
        "errors": {
            "empty": "Kirjoita palautteesi ennen lähettämistä.",
            "too_long": "Palaute on liian pitkä (enintään {max} merkkiä).",
            "bad_email": "Sähköpostiosoite ei ole kelvollinen. Korjaa se tai jätä kenttä tyhjäksi.",
            "bad_request": "Lomaketta ei voitu lukea. Yritä uudelleen.",
            "rate_limited": "Liian monta viestiä. Yritä myöhemmin uudelleen.",
        },
        "error_heading": "Palautetta ei lähetetty",
        "privacy_link": "Tietosuojaseloste",
    },
    "sv": {
        "title": "Tillgänglighetsutlåtande",
        "intro": (
            "Det här utlåtandet gäller kundtjänstchatten som {controller} erbjuder på sin "
            "webbplats (chattfönstret och dess dataskyddsbeskrivning) och kundtjänstens "
            "chattkonsol. Kraven på "
            "tillgänglighet grundar sig på lagen om tillhandahållande av digitala tjänster och "
            "det europeiska tillgänglighetsdirektivet. Målet är nivå AA i WCAG 2.1."
        ),
        "controller_default": "den personuppgiftsansvarige",
        "h_status": "Tillgänglighetsstatus",
        "status_full": "Chatten uppfyller kraven på nivå AA i WCAG 2.1.",
        "status_partial": (
            "Chatten uppfyller delvis kraven på nivå AA i WCAG 2.1. Bristerna räknas upp nedan."
        ),
        "h_issues": "Innehåll som inte är tillgängligt",
        "h_review": "Hur tillgängligheten har bedömts",
        "review": (
            "Tillgängligheten har bedömts internt: varje kriterium på nivå A och AA i WCAG 2.1 "
            "har gåtts igenom för hand med tangentbord, skärmläsarnamn, 200 % förstoring och en "
            "320 pixlar bred skärm, och sidorna kontrolleras dessutom automatiskt med verktyget "
            "axe vid varje ändring."
        ),
        "reviewed": "Utlåtandet granskades senast",
        "h_feedback": "Ge respons om tillgängligheten",
        "feedback": (
            "Har du upptäckt en brist i tillgängligheten? Berätta om den med formuläret "
            "nedan{email}. Vi svarar inom {days} dagar."
        ),
        "feedback_email": " eller per e-post till {email}",
        "feedback_privacy": (
            "Från formuläret sparas bara meddelandet du skriver, sidans språk och, om du vill, "
            "en e-postadress för svaret; ingen IP-adress och inga andra uppgifter om dig. "
            "Meddelandet raderas automatiskt efter {period}."
        ),
        "h_authority": "Tillsynsmyndighet",
        "authority": (
            "Om du upptäcker problem med tillgängligheten, ge först respons till oss. Om du inte "
            "är nöjd med svaret eller inte får något svar inom {days} dagar kan du göra en "
            "anmälan till tillsynsmyndigheten. Tillgängligheten i digitala tjänster övervakas av "
            "Transport- och kommunikationsverket Traficom."
        ),
        "authority_link": (
            "Transport- och kommunikationsverket Traficom, tillsynen över tillgänglighet"
        ),
        "languages": "Språk",
        "form_message": "Din respons",
        "form_message_help": (
            "Berätta vilken sida eller funktion som inte fungerade och hur. Högst {max} tecken."
        ),
        "form_email": "E-postadress för svar (frivillig)",
        "form_send": "Skicka respons",
        "sent": "Tack för din respons! Om du gav en e-postadress svarar vi inom {days} dagar.",
        "errors": {
            "empty": "Skriv din respons innan du skickar den.",
            "too_long": "Responsen är för lång (högst {max} tecken).",
            "bad_email": "E-postadressen är inte giltig. Rätta den eller lämna fältet tomt.",
            "bad_request": "Formuläret kunde inte läsas. Försök igen.",
            "rate_limited": "För många meddelanden. Försök igen senare.",
        },
        "error_heading": "Responsen skickades inte",
        "privacy_link": "Dataskyddsbeskrivning",
    },
    "en": {
        "title": "Accessibility statement",
        "intro": (
            "This statement covers the customer-service chat that {controller} offers on its "
            "website (the chat window and its privacy notice) and the customer-service staff's "
            "chat console. The "
            "accessibility requirements come from the Finnish Act on the Provision of Digital "
            "Services and the European Accessibility Act. The target is level AA of WCAG 2.1."
        ),
        "controller_default": "the controller",
        "h_status": "Compliance status",
        "status_full": "The chat meets the requirements of WCAG 2.1 level AA.",
        "status_partial": (
            "The chat partially meets the requirements of WCAG 2.1 level AA. The shortcomings "
            "are listed below."
        ),
        "h_issues": "Content that is not accessible",
        "h_review": "How accessibility was assessed",
        "review": (
            "Accessibility was assessed in-house: every WCAG 2.1 level A and AA criterion was "
            "checked by hand, by keyboard, with screen-reader names, at 200 % zoom and on a "
            "320-pixel-wide screen, and every change is also checked automatically with axe."
        ),
        "reviewed": "This statement was last reviewed on",
        "h_feedback": "Give feedback on accessibility",
        "feedback": (
            "Did you notice an accessibility problem? Tell us with the form below{email}. We "
            "answer within {days} days."
        ),
        "feedback_email": " or by e-mail to {email}",
        "feedback_privacy": (
            "The form stores only the message you write, the page's language and, if you give "
            "one, an e-mail address for our answer; no IP address and nothing else about you. "
            "The message is deleted automatically after {period}."
        ),
        "h_authority": "Supervisory authority",
        "authority": (
            "If you notice accessibility problems, first give feedback to us. If you are not "
            "satisfied with our answer, or get none within {days} days, you can report it to the "
            "supervisory authority. Digital accessibility in Finland is supervised by the Finnish "
            "Transport and Communications Agency Traficom."
        ),
        "authority_link": (
            "Finnish Transport and Communications Agency Traficom, accessibility supervision"
        ),
        "languages": "Language",
        "form_message": "Your feedback",
        "form_message_help": (
            "Tell us which page or feature did not work, and how. At most {max} characters."
        ),
        "form_email": "E-mail address for our answer (optional)",
        "form_send": "Send feedback",
        "sent": (
            "Thank you for your feedback! If you gave an e-mail address, we answer within {days} "
            "days."
        ),
        "errors": {
            "empty": "Please write your feedback before sending it.",
            "too_long": "The feedback is too long (at most {max} characters).",
            "bad_email": "The e-mail address is not valid. Correct it or leave the field empty.",
            "bad_request": "The form could not be read. Please try again.",
            "rate_limited": "Too many messages. Please try again later.",
        },
        "error_heading": "The feedback was not sent",
        "privacy_link": "Privacy notice",
    },
}


@dataclass
class Statement:
    lang: str
    title: str
    intro: str
    status: str
    issues: list[tuple[str, str]]
    reviewed: str
    paragraphs: dict[str, str]
    labels: dict[str, str]
    authority: tuple[str, str]
    languages: list[dict[str, Any]] = field(default_factory=list)


def accessibility_statement(lang: str, *, details: ControllerDetails | None = None) -> Statement:
    """The statement in `lang` (fi, sv or en) from the controller details and live settings."""
    if lang not in NOTICE_LANGUAGES:
        lang = "fi"
    t = TEXTS[lang]
    details = details or ControllerDetails.current()
    name = strip_bidi_controls(details.controller_name or "")
    email = strip_bidi_controls(details.email or "")
    # Configured text inline in a sentence: isolated, so that it cannot reorder the sentence.
    controller = isolate_plain(name) if name else t["controller_default"]
    days = ACCESSIBILITY_ANSWER_DAYS
    with translation.override(lang):
        reviewed = formats.date_format(settings.CHAT_ACCESSIBILITY_REVIEWED_ON, "DATE_FORMAT")
    issues = [(criterion, texts[lang]) for criterion, texts in KNOWN_ISSUES]
    period = retention_period_text(settings.CHAT_RETENTION_MONTHS, lang)
    return Statement(
        lang=lang,
        title=t["title"],
        intro=t["intro"].format(controller=controller),
        status=t["status_partial"] if issues else t["status_full"],
        issues=issues,
        reviewed=reviewed,
        paragraphs={
            "review": t["review"],
            "feedback": t["feedback"].format(
                email=t["feedback_email"].format(email=isolate_plain(email)) if email else "",
                days=days,
            ),
            "feedback_privacy": t["feedback_privacy"].format(period=period),
            "authority": t["authority"].format(days=days),
            "message_help": t["form_message_help"].format(max=ACCESSIBILITY_MESSAGE_MAX_CHARS),
            "sent": t["sent"].format(days=days),
        },
        labels={
            key: t[key]
            for key in (
                "h_status",
                "h_issues",
                "h_review",
                "reviewed",
                "h_feedback",
                "h_authority",
                "languages",
                "form_message",
                "form_email",
                "form_send",
                "error_heading",
                "privacy_link",
            )
        },
        authority=(AUTHORITY_URL, t["authority_link"]),
        languages=[
            {"code": code, "name": LANGUAGE_NAMES[code], "current": code == lang}
            for code in NOTICE_LANGUAGES
        ],
    )


def error_text(lang: str, code: str) -> str:
    """The form's error for a refusal code, in `lang`."""
    errors = TEXTS[lang if lang in TEXTS else "fi"]["errors"]
    return errors.get(code, errors["bad_request"]).format(max=ACCESSIBILITY_MESSAGE_MAX_CHARS)
