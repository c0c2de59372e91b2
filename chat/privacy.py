"""The privacy notice (rekisteriseloste), built from live configuration in fi, sv and en.

Nothing in the notice that the system decides is written as a constant: the controller and its
contacts come from `ControllerDetails` (edited in admin), the retention periods from
`settings.CHAT_RETENTION_MONTHS` and `settings.CHAT_AUDIT_RETENTION_MONTHS` (the settings the purge
itself uses), the backup rotation from `settings.CHAT_BACKUP_ROTATION_DAYS` (also how long the
erasure tombstones are kept), so the notice cannot promise something other than what the software
does.

The three language versions are authored here as whole texts rather than as gettext strings: a
notice is read as one document per language, and keeping each version together makes it easy for
the controller to review a language at a time. Headings follow the seed notice's order.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import formats, timezone, translation

from .bidi import isolate_plain, strip_bidi_controls
from .models import ControllerDetails
from .retention_period import token_max_age_days
from .validators import is_http_url

NOTICE_LANGUAGES = ("fi", "sv", "en")
LANGUAGE_NAMES = {"fi": "Suomeksi", "sv": "På svenska", "en": "In English"}
DEFAULT_REGISTER_NAME = "Chat register"


def retention_period_text(months: int, lang: str) -> str:
    """'3 kuukautta', '3 månader', '3 months' as the object of "kept for" in each language."""
    if lang == "fi":
        return f"{months} kuukauden" if months == 1 else f"{months} kuukautta"
    if lang == "sv":
        return f"{months} månad" if months == 1 else f"{months} månader"
    return f"{months} month" if months == 1 else f"{months} months"


def backup_rotation_text(days: int, lang: str) -> str:
    """'35 päivää', '35 dagar', '35 days': how long backups are kept (CHAT_BACKUP_ROTATION_DAYS)."""
    if lang == "fi":
        return f"{days} päivän" if days == 1 else f"{days} päivää"
    if lang == "sv":
        return f"{days} dag" if days == 1 else f"{days} dagar"
    return f"{days} day" if days == 1 else f"{days} days"


def notice_language(request: HttpRequest) -> str:
    """`?lang=` if it names a notice language, else the browser's choice, else LANGUAGE_CODE."""
    asked = request.GET.get("lang", "")
    if asked in NOTICE_LANGUAGES:
        return asked
    preferred = translation.get_language_from_request(request)
    if preferred:
        preferred = preferred.split("-")[0].lower()
        if preferred in NOTICE_LANGUAGES:
            return preferred
    default = settings.LANGUAGE_CODE.split("-")[0]
    return default if default in NOTICE_LANGUAGES else "fi"


@dataclass
class Section:
    key: str
    heading: str
    paragraphs: list[str] = field(default_factory=list)
    #: (label, value, href): href links e-mail, phone and website; empty for plain values
    items: list[tuple[str, str, str]] = field(default_factory=list)
    bullets: list[str] = field(default_factory=list)
    #: paragraphs after the bullet list
    after: list[str] = field(default_factory=list)
    links: list[tuple[str, str]] = field(default_factory=list)


@dataclass
class Notice:
    lang: str
    title: str
    intro: str
    updated: str
    sections: list[Section]
    labels: dict[str, str]
    languages: list[dict[str, Any]]


# Per-language texts. `{period}` and `{contact}` are filled in from configuration.
TEXTS: dict[str, dict[str, Any]] = {
    "fi": {
        "title": "Tietosuojaseloste (rekisteriseloste)",
        "intro": (
            "Tämä seloste kertoo, mitä tietoja verkkosivujen asiakaspalveluchat tallentaa, miksi "
            "ja kuinka kauan. Seloste muodostetaan palvelun voimassa olevista asetuksista, "
            "joten se kuvaa sitä, mitä järjestelmä todella tekee."
        ),
        "updated": "Rekisterinpitäjän tiedot päivitetty",
        "languages": "Kieli",
        "not_set": "(rekisterinpitäjä ei ole vielä ilmoittanut)",
        "register_name_default": "Chat-rekisteri",
        "h_name": "Rekisterin nimi",
        "h_controller": "Rekisterinpitäjä",
        "controller_labels": {
            "name": "Nimi",
            "business_id": "Y-tunnus",
            "address": "Osoite",
            "phone": "Puhelin",
            "email": "Sähköposti",
            "website": "Verkkosivut",
        },
        "h_responsible": "Rekisterin vastuuhenkilö",
        "responsible": (
            "Vastuuhenkilö huolehtii siitä, että järjestelmää hoidetaan asianmukaisesti, tarkistaa "
            "käyttöoikeudet tarvittaessa ja varmistaa, että järjestelmän käyttäjät on ohjeistettu "
            "ja koulutettu."
        ),
        "h_contact": "Rekisteriasioita hoitava henkilö",
        "contact": (
            "Rekisteriasioita hoitava henkilö toteuttaa myönnetyt käyttöoikeudet, antaa "
            "lisätietoja rekisteristä ja rekisteröidyn oikeuksista sekä käsittelee tietopyynnöt ja "
            "poistopyynnöt."
        ),
        "h_purpose": "Käyttötarkoitus ja käsittelyn peruste",
        "purpose": [
            "Chat on rekisterinpitäjän verkkosivuilla oleva asiakaspalvelun keskustelukanava. "
            "Tietoja käsitellään asiakkaiden kysymyksiin vastaamiseksi ja asiakassuhteen "
            "hoitamiseksi; tavoitteena on parempi asiakaspalvelu ja parempi tavoitettavuus.",
            "Asiakaspalvelijat vastaavat omilla nimillään. Käsittelyn peruste on rekisterinpitäjän "
            "oikeutettu etu vastata sille esitettyihin kysymyksiin.",
        ],
        "h_content": "Rekisterin tietosisältö",
        "content_intro": "Kun aloitat keskustelun, rekisteriin tallennetaan:",
        "content": [
            "kirjallinen keskustelu viesteineen ja aikoineen sekä vastanneen asiakaspalvelijan "
            "nimi",
            "asiakaspalvelun sisäiset muistiinpanot keskustelusta (henkilökunnan kirjoittamia, "
            "niitä ei näytetä keskustelussa; saat ne, kun pyydät tietosi) sekä keskustelun "
            "päättyessä valitut aihetunnisteet ja päättymisen syy",
            "yhteytesi IP-osoite",
            "laitetiedot: selain, käyttöjärjestelmä, laitetyyppi, näytön koko ja selaimen kieli"
            "{ua}",
            "{pages}",
            "pikapalaute: oletko tyytyväinen saamaasi asiakaspalveluun ja chattiin tapana saada "
            "palvelua, sekä vapaaehtoinen kommentti",
            "keskustelun tunnus (näkyy chat-ikkunassa), keskustelun alkamis- ja päättymisaika "
            "sekä se, jätitkö keskustelun viestinä, kun kukaan ei ollut paikalla",
            "keskustelun aihe (sivusto kertoo sen tai valitset sen itse) ja keskustelun "
            "ohjaustiedot: kenelle asiakaspalvelijalle keskustelua on tarjottu ja milloin",
        ],
        "contact_email": (
            "sähköpostiosoite, jos annoit sen jättäessäsi viestin, kun kukaan ei ollut paikalla: "
            "siihen kerrotaan vain, että vastaus odottaa, ei keskustelua"
        ),
        "answer_link": (
            "viestin kertakäyttöinen linkki keskusteluun: siitä tallennetaan vain tiiviste, se "
            "toimii kerran ja enintään {days} päivää (ei koskaan säilytysajan jälkeen), ja sen "
            "avaaminen antaa kyseiselle selaimelle pääsyn keskusteluun"
        ),
        "content_after": (
            "Chat ei kysy nimeäsi, sähköpostiosoitettasi eikä muita yhteystietojasi. Älä kirjoita "
            "chattiin arkaluonteisia tietoja. Kun aloitat keskustelun, selaimesi säilyttää "
            "satunnaisen tunnisteen, jonka avulla keskustelu jatkuu sivulta toiselle."
        ),
        "browser_storage": (
            "Tunniste säilytetään selaimessasi chatin omassa tallennustilassa (localStorage). Jos "
            "selain ei salli sitä verkkosivulle upotetulle chatille, tunniste säilytetään "
            "evästeessä helao_visitor, jonka vain tälle sivustolle upotettu chat voi lukea. "
            "Tunniste poistetaan, kun keskustelu päättyy, ja se vanhenee viimeistään {days} "
            "päivän kuluttua. Jos selain ei salli chatille tallennustilaa, chat kokeilee "
            "avattaessa evästeen helao_probe tallentamista ja poistaa sen heti. Jos selain ei "
            "salli kumpaakaan, keskustelu on käytettävissä vain niin kauan kuin sivu on auki."
        ),
        "ua_parsed": " (ne päätellään selaimen tunnistetekstistä, jota ei tallenneta)",
        "ua_kept": " sekä selaimen tunnisteteksti (user agent)",
        "pages": (
            "verkkopalvelun välittämät tiedot: sivut, joilla liikut keskustelun aikana (osoite "
            "ilman sen perään liitettyjä parametreja{params}, otsikko ja edellinen sivu; toiselta "
            "sivustolta tultaessa vain sen sivuston osoite){context}"
        ),
        "params": " paitsi {names}",
        "context": " sekä nämä verkkosivun chatille välittämät lisätiedot: {names}",
        "guard_mask": (
            "Jos viestissä, kommentissa tai sivun otsikossa on henkilötunnus, maksukortin numero "
            "tai tilinumero, chat korvaa sen merkinnällä ennen tallentamista; itse numeroa ei "
            "tallenneta. Samoin sähköpostiosoitteet ja tunnukset poistetaan sivujen osoitteista ja "
            "otsikoista."
        ),
        "guard_warn": (
            "Jos kirjoittamasi viesti näyttää sisältävän henkilötunnuksen, maksukortin numeron tai "
            "tilinumeron, chat varoittaa ennen lähettämistä; lähetetty viesti tallennetaan "
            "sellaisenaan. Sähköpostiosoitteet ja tunnukset poistetaan sivujen osoitteista ja "
            "otsikoista ennen tallentamista."
        ),
        "h_sources": "Säännönmukaiset tietolähteet",
        "sources": (
            "Tiedot saadaan chat-keskustelijalta itseltään ja hänen käyttämältään selaimelta. "
            "Tietoja ei täydennetä muista lähteistä."
        ),
        "h_disclosures": "Säännönmukaiset tietojen luovutukset",
        "disclosures": (
            "Tietoja ei luovuteta kolmansille osapuolille. Chat ei käytä ulkopuolisia palveluita, "
            "analytiikkaa eikä mainontaa."
        ),
        "h_transfers": "Tietojen siirto EU:n tai ETA:n ulkopuolelle",
        "transfers": "Tietoja ei siirretä EU:n tai ETA:n ulkopuolelle.",
        "h_security": "Rekisterin suojauksen periaatteet ja käytön valvonta",
        "security": [
            "Henkilötiedot ovat luottamuksellisia. Keskusteluihin pääsevät vain ne "
            "rekisterinpitäjän palveluksessa olevat henkilöt, jotka tarvitsevat tietoja "
            "tehtävissään: asiakaspalvelija näkee vain keskustelut, joihin on itse osallistunut, "
            "ja kaikkia keskusteluja voivat lukea vain ne, joille on erikseen myönnetty siihen "
            "oikeus. Vastuuhenkilö tarkistaa käyttöoikeudet tarvittaessa.",
            "Käyttöä valvotaan lokilla: jokaisesta keskustelun avaamisesta, hausta, tietojen "
            "viennistä ja poistamisesta sekä kirjautumisista ja käyttöoikeuksien muutoksista jää "
            "merkintä. Merkintään tallennetaan toimenpiteen tehneen henkilökunnan jäsenen "
            "käyttäjätunnus, hänen yhteytensä IP-osoite, aika ja keskustelun tunnus. Lokiin ei "
            "tallenneta viestien sisältöä eikä chatin käyttäjien IP-osoitteita. Lokimerkinnät "
            "säilytetään {audit_period}, minkä jälkeen ne poistetaan automaattisesti.",
            "Järjestelmä on suojattu palomuurilla ja muilla tarvittavilla teknisillä keinoilla.",
        ],
        "tls": "Yhteydet chattiin ovat salattuja.",
        "h_retention": "Tietojen säilytysaika",
        "retention": (
            "Tietoja säilytetään {period}, minkä jälkeen ne poistetaan automaattisesti. Poisto "
            "koskee kaikkia yllä lueteltuja tietoja, myös pikapalautetta."
        ),
        "retention_after": (
            "Palautteesta säilytetään vain lukumäärät (esimerkiksi tyytyväisten vastausten määrä "
            "päivässä), joista ketään ei voi tunnistaa."
        ),
        "backups": (
            "Varmuuskopioita säilytetään enintään {rotation}, joten tiedot voivat säilyä "
            "varmuuskopioissa enintään {period} ja {rotation}. Jos tiedot palautetaan "
            "varmuuskopiosta, palautuksen jälkeen poistetaan uudelleen kaikki keskustelut, jotka "
            "on poistettu varmuuskopion ottamisen jälkeen, sekä säilytysajan ylittäneet tiedot."
        ),
        "h_staff": "Tiedot asiakaspalvelun henkilökunnasta",
        "staff_intro": "Palvelu tallentaa chatia käyttävästä henkilökunnasta:",
        "staff": [
            "käyttäjätilin: käyttäjätunnus, nimi (näkyy chatin käyttäjälle), sähköpostiosoite, "
            "salasanan tiiviste ja viimeisin kirjautuminen; tili säilyy niin kauan kuin käyttäjä "
            "on palveluksessa",
            "käyttöoikeuksien myöntämiset ja poistot (kuka hyväksyi, kuka toteutti, milloin), "
            "ohjeistuksen kuittauksen ajankohdan sekä konsolin kielen ja tavoitettavuustilan",
            "keskustelujen ohjaukseen: mitä aiheita kukin palvelee, montako keskustelua hänelle "
            "voi ohjata yhtä aikaa, milloin hän sai viimeksi keskustelun ja viimeksi valitsemansa "
            "tavoitettavuustila",
            "lokimerkinnät edellä kuvatulla tavalla, mukaan lukien yhteyden IP-osoite, sekä "
            "ylläpitokäyttöliittymän muutosloki: säilytetään {audit_period}",
            "kirjautumiset ja epäonnistuneet kirjautumisyritykset (käyttäjätunnus, IP-osoite ja "
            "selain): säilytetään {period}; kirjautumisistunnot poistetaan niiden päätyttyä",
            "päiväkohtaiset tilastot keskusteluista asiakaspalvelijoittain: nimi säilytetään "
            "{audit_period}, minkä jälkeen se poistetaan ja luvut yhdistetään päivän "
            "kokonaismääriin",
        ],
        "staff_after": (
            "Viesteihin tallentuu vastanneen asiakaspalvelijan nimi; se säilytetään keskustelun "
            "mukana {period}, minkä jälkeen se poistetaan."
        ),
        "h_rights": "Rekisteröidyn oikeudet",
        "rights_intro": "Sinulla on oikeus",
        "rights": [
            "saada tietää, mitä tietoja sinusta on tallennettu, ja saada niistä kopio",
            "vaatia virheellisen tiedon oikaisemista",
            "vaatia tietojesi poistamista",
            "vaatia käsittelyn rajoittamista ja vastustaa käsittelyä",
            "tehdä valitus valvontaviranomaiselle, Suomessa tietosuojavaltuutetun toimistolle",
        ],
        "supervisor_link": ("https://tietosuoja.fi/", "Tietosuojavaltuutetun toimisto"),
        "h_accessibility": "Palaute saavutettavuudesta",
        "accessibility": (
            "Saavutettavuusselosteen palautelomakkeelta tallennetaan vain kirjoittamasi viesti, "
            "sivun kieli, vastaanottoaika ja halutessasi antamasi sähköpostiosoite vastausta "
            "varten, sekä milloin ja kuka siihen vastasi. Se ei kuulu chat-rekisteriin eikä "
            "liity mihinkään keskusteluun. Viesti poistetaan automaattisesti {period} kuluttua, "
            "tai pyynnöstäsi aiemmin."
        ),
        "accessibility_link": "Saavutettavuusseloste",
        "h_requests": "Näin teet pyynnön",
        "requests": [
            "Chat-ikkunassa näkyy keskustelun tunnus, esimerkiksi ABCDE-12345. Koska chat ei "
            "tallenna nimeäsi, ilmoita pyynnössä tämä tunnus. Jos tunnus ei ole tallessa, kerro "
            "keskustelun ajankohta ja jokin keskustelussa kirjoittamasi asia, niin keskustelu "
            "voidaan löytää.",
            "Lähetä pyyntö rekisteriasioita hoitavalle henkilölle: {contact}. Pyyntöön vastataan "
            "kuukauden kuluessa. Saat tiedot luettavana tekstinä tai koneluettavassa "
            "JSON-muodossa; asiakaspalvelun sisäiset muistiinpanot ovat JSON-tiedostossa.",
        ],
    },
    "sv": {
        "title": "Dataskyddsbeskrivning (registerbeskrivning)",
        "intro": (
            "Den här beskrivningen berättar vilka uppgifter kundtjänstchatten på webbplatsen "
            "sparar, varför och hur länge. Den skapas ur tjänstens gällande inställningar, så den "
            "beskriver det som systemet verkligen gör."
        ),
        "updated": "Den personuppgiftsansvariges uppgifter uppdaterade",
        "languages": "Språk",
        "not_set": "(ännu inte angett av den personuppgiftsansvarige)",
        "register_name_default": "Chattregister",
        "h_name": "Registrets namn",
        "h_controller": "Personuppgiftsansvarig",
        "controller_labels": {
            "name": "Namn",
            "business_id": "FO-nummer",
            "address": "Adress",
            "phone": "Telefon",
            "email": "E-post",
            "website": "Webbplats",
        },
        "h_responsible": "Registrets ansvarsperson",
        "responsible": (
            "Ansvarspersonen ser till att systemet sköts på ett korrekt sätt, granskar "
            "användarrättigheterna vid behov och säkerställer att systemets användare har fått "
            "instruktioner och utbildning."
        ),
        "h_contact": "Kontaktperson i registerärenden",
        "contact": (
            "Kontaktpersonen verkställer beviljade användarrättigheter, ger närmare information om "
            "registret och om den registrerades rättigheter och behandlar begäranden om insyn och "
            "radering."
        ),
        "h_purpose": "Ändamål och grund för behandlingen",
        "purpose": [
            "Chatten är en kanal för kundtjänst på den personuppgiftsansvariges webbplats. "
            "Uppgifterna behandlas för att besvara kundernas frågor och sköta kundrelationen; "
            "målet är bättre kundtjänst och bättre tillgänglighet.",
            "Kundtjänstens medarbetare svarar under sina egna namn. Grunden för behandlingen är "
            "den personuppgiftsansvariges berättigade intresse av att besvara frågor som "
            "ställs till den.",
        ],
        "h_content": "Registrets innehåll",
        "content_intro": "När du inleder ett samtal sparas i registret:",
        "content": [
            "det skriftliga samtalet med meddelanden och tidpunkter samt namnet på den medarbetare "
            "som svarade",
            "kundtjänstens interna anteckningar om samtalet (skrivna av personalen, de visas inte "
            "i chatten; du får dem när du begär dina uppgifter) samt de taggar och den orsak som "
            "valdes när samtalet avslutades",
            "din anslutnings IP-adress",
            "enhetsuppgifter: webbläsare, operativsystem, enhetstyp, skärmstorlek och "
            "webbläsarens språk{ua}",
            "{pages}",
            "snabbrespons: om du är nöjd med den kundtjänst du fick och med chatten som sätt att "
            "få service, samt en frivillig kommentar",
            "samtalets kod (syns i chattfönstret), samtalets start- och sluttid samt om du "
            "lämnade samtalet som ett meddelande när ingen var tillgänglig",
            "samtalets ämne (webbplatsen anger det eller du väljer det själv) och hur samtalet "
            "dirigeras: vilken kundtjänstmedarbetare det har erbjudits och när",
        ],
        "contact_email": (
            "e-postadress, om du angav den när du lämnade ett meddelande när ingen var "
            "tillgänglig: dit meddelas bara att ett svar väntar, aldrig samtalet"
        ),
        "answer_link": (
            "meddelandets engångslänk till samtalet: bara en kontrollsumma av den sparas, den "
            "fungerar en gång och i högst {days} dagar (aldrig efter lagringstiden), och när den "
            "öppnas får den webbläsaren tillgång till samtalet"
        ),
        "content_after": (
            "Chatten frågar inte efter ditt namn, din e-postadress eller andra kontaktuppgifter. "
            "Skriv inga känsliga uppgifter i chatten. När du inleder ett samtal sparar din "
            "webbläsare en slumpmässig kod så att samtalet följer med från sida till sida."
        ),
        "browser_storage": (
            "Koden sparas i chattens eget lagringsutrymme i din webbläsare (localStorage). Om "
            "webbläsaren inte tillåter det för en chatt som är inbäddad på en webbplats sparas "
            "koden i kakan helao_visitor, som bara chatten på den här webbplatsen kan läsa. Koden "
            "tas bort när samtalet avslutas och upphör att gälla senast efter {days} dagar. Om "
            "webbläsaren inte tillåter chatten något lagringsutrymme prövar chatten när den "
            "öppnas att spara kakan helao_probe och tar genast bort den. Om webbläsaren inte "
            "tillåter någotdera finns samtalet kvar bara så länge sidan är öppen."
        ),
        "ua_parsed": " (de härleds ur webbläsarens identifieringstext, som inte sparas)",
        "ua_kept": " samt webbläsarens identifieringstext (user agent)",
        "pages": (
            "uppgifter som webbtjänsten förmedlar: sidorna du besöker under samtalet (adressen "
            "utan parametrar{params}, rubriken och föregående sida; från en annan webbplats endast "
            "den webbplatsens adress){context}"
        ),
        "params": " utom {names}",
        "context": " samt dessa tilläggsuppgifter som webbplatsen ger chatten: {names}",
        "guard_mask": (
            "Om ett meddelande, en kommentar eller en sidrubrik innehåller en personbeteckning, "
            "ett betalkortsnummer eller ett kontonummer ersätter chatten det med en markering "
            "innan det sparas; själva numret sparas inte. E-postadresser och sådana nummer tas på "
            "samma sätt bort ur sidornas adresser och rubriker."
        ),
        "guard_warn": (
            "Om ett meddelande du skriver ser ut att innehålla en personbeteckning, ett "
            "betalkortsnummer eller ett kontonummer varnar chatten dig innan du skickar det; ett "
            "skickat meddelande sparas som det är. E-postadresser och sådana nummer tas bort ur "
            "sidornas adresser och rubriker innan de sparas."
        ),
        "h_sources": "Regelbundna uppgiftskällor",
        "sources": (
            "Uppgifterna fås av chattdeltagaren själv och av den webbläsare hen använder. "
            "Uppgifterna kompletteras inte från andra källor."
        ),
        "h_disclosures": "Regelbundna utlämnanden av uppgifter",
        "disclosures": (
            "Uppgifterna lämnas inte ut till tredje parter. Chatten använder inga utomstående "
            "tjänster, ingen analys och ingen reklam."
        ),
        "h_transfers": "Överföring av uppgifter utanför EU eller EES",
        "transfers": "Uppgifterna överförs inte utanför EU eller EES.",
        "h_security": "Principer för registrets skydd och övervakning av användningen",
        "security": [
            "Personuppgifterna är konfidentiella. Endast de anställda hos den "
            "personuppgiftsansvarige som behöver uppgifterna i sitt arbete har tillgång till "
            "samtalen: en kundtjänstmedarbetare ser bara de samtal som hen själv deltagit i, och "
            "alla samtal kan läsas endast av dem som särskilt fått rätt till det. "
            "Ansvarspersonen granskar användarrättigheterna vid behov.",
            "Användningen övervakas med en logg: varje gång ett samtal öppnas, varje sökning, "
            "export och radering, varje inloggning och varje ändring av användarrättigheter "
            "antecknas. En anteckning innehåller personalens användarnamn, IP-adressen för hens "
            "anslutning, tidpunkten och samtalets kod. Loggen innehåller varken meddelandenas "
            "innehåll eller chattanvändarnas IP-adresser. Anteckningarna sparas i "
            "{audit_period} och raderas sedan automatiskt.",
            "Systemet skyddas av brandvägg och andra nödvändiga tekniska åtgärder.",
        ],
        "tls": "Förbindelserna till chatten är krypterade.",
        "h_retention": "Lagringstid",
        "retention": (
            "Uppgifterna sparas i {period} och raderas därefter automatiskt. Raderingen gäller "
            "alla uppgifter som räknas upp ovan, även snabbresponsen."
        ),
        "retention_after": (
            "Av responsen sparas endast antal (till exempel antalet nöjda svar per dag), som ingen "
            "kan identifieras utifrån."
        ),
        "backups": (
            "Säkerhetskopior sparas i högst {rotation}, så uppgifterna kan finnas kvar i "
            "säkerhetskopior i högst {period} och {rotation}. Om uppgifter återställs från en "
            "säkerhetskopia raderas efter återställningen på nytt alla samtal som raderats efter "
            "att kopian togs, liksom uppgifter vars lagringstid har gått ut."
        ),
        "h_staff": "Uppgifter om kundtjänstens personal",
        "staff_intro": "Om personalen som använder chatten sparar tjänsten:",
        "staff": [
            "användarkontot: användarnamn, namn (visas för chattanvändaren), e-postadress, "
            "lösenordets hashvärde och senaste inloggning; kontot finns kvar så länge personen "
            "arbetar i tjänsten",
            "beviljade och återkallade användarrättigheter (vem som godkände, vem som verkställde, "
            "när), när hen bekräftade instruktionerna samt konsolens språk och tillgänglighet",
            "för dirigeringen av samtal: vilka ämnen hen betjänar, hur många samtal hen kan få "
            "samtidigt, när hen senast fick ett samtal och den tillgänglighet hen senast valde",
            "logganteckningar enligt ovan, inklusive anslutningens IP-adress, och "
            "administrationsgränssnittets ändringslogg: sparas i {audit_period}",
            "inloggningar och misslyckade inloggningsförsök (användarnamn, IP-adress och "
            "webbläsare): sparas i {period}; inloggningssessioner raderas när de upphör",
            "daglig statistik över samtal per medarbetare: efter {audit_period} tas "
            "medarbetarens namn bort och siffrorna slås ihop med dagens totalsummor",
        ],
        "staff_after": (
            "Meddelandena innehåller namnet på den medarbetare som svarade; det raderas med "
            "samtalet efter {period}."
        ),
        "h_rights": "Den registrerades rättigheter",
        "rights_intro": "Du har rätt att",
        "rights": [
            "få veta vilka uppgifter om dig som har sparats och få en kopia av dem",
            "kräva att felaktiga uppgifter rättas",
            "kräva att dina uppgifter raderas",
            "kräva att behandlingen begränsas och invända mot behandlingen",
            "lämna in klagomål till tillsynsmyndigheten, i Finland dataombudsmannens byrå",
        ],
        "supervisor_link": ("https://tietosuoja.fi/sv/", "Dataombudsmannens byrå"),
        "h_accessibility": "Respons om tillgängligheten",
        "accessibility": (
            "Från responsformuläret i tillgänglighetsutlåtandet sparas bara meddelandet du "
            "skriver, sidans språk, när det kom och, om du vill, en e-postadress för svaret, samt "
            "när och av vem det besvarades. Det hör inte till chattregistret och är inte kopplat "
            "till något samtal. Meddelandet raderas automatiskt efter {period}, eller tidigare "
            "om du begär det."
        ),
        "accessibility_link": "Tillgänglighetsutlåtande",
        "h_requests": "Så här gör du en begäran",
        "requests": [
            "I chattfönstret syns samtalets kod, till exempel ABCDE-12345. Eftersom chatten inte "
            "sparar ditt namn ska du uppge koden i din begäran. Om du inte har koden kvar, berätta "
            "när samtalet ägde rum och något du skrev, så kan samtalet hittas.",
            "Skicka begäran till kontaktpersonen i registerärenden: {contact}. Begäran besvaras "
            "inom en månad. Du får uppgifterna som läsbar text eller i maskinläsbart JSON-format; "
            "kundtjänstens interna anteckningar finns i JSON-filen.",
        ],
    },
    "en": {
        "title": "Privacy notice (record of processing)",
        "intro": (
            "This notice tells you what the customer-service chat on our website stores, why and "
            "for how long. It is generated from the service's current settings, so it describes "
            "what the system actually does."
        ),
        "updated": "Controller details updated",
        "languages": "Language",
        "not_set": "(not yet given by the controller)",
        "register_name_default": "Chat register",
        "h_name": "Name of the register",
        "h_controller": "Controller",
        "controller_labels": {
            "name": "Name",
            "business_id": "Business ID",
            "address": "Address",
            "phone": "Phone",
            "email": "E-mail",
            "website": "Website",
        },
        "h_responsible": "Person responsible for the register",
        "responsible": (
            "The responsible person makes sure the system is run properly, reviews access rights "
            "when needed and makes sure the people using the system have been instructed and "
            "trained."
        ),
        "h_contact": "Contact person for register matters",
        "contact": (
            "The contact person puts granted access rights into effect, gives further information "
            "about the register and your rights, and handles requests for access and erasure."
        ),
        "h_purpose": "Purpose and basis of processing",
        "purpose": [
            "The chat is a customer-service channel on the controller's website. The data is "
            "processed to answer customers' questions and to manage the customer relationship; "
            "the aim is better service and better reachability.",
            "Customer-service staff answer under their own names. The basis of processing is the "
            "controller's legitimate interest in answering the questions put to it.",
        ],
        "h_content": "Data content",
        "content_intro": "When you start a conversation, the register stores:",
        "content": [
            "the written conversation, its messages and their times, and the name of the staff "
            "member who answered",
            "customer service's internal notes about the conversation (written by staff and not "
            "shown in the chat; you get them when you ask for your data), and the tags and reason "
            "chosen when the conversation ended",
            "the IP address of your connection",
            "device data: browser, operating system, device type, screen size and browser "
            "language{ua}",
            "{pages}",
            "quick feedback: whether you were satisfied with the service you received and with "
            "chat as a way of getting service, and an optional comment",
            "the conversation reference (shown in the chat window), when the conversation "
            "started and ended, and whether you left it as a message while nobody was online",
            "the conversation's topic (named by the website or chosen by you) and its routing: "
            "which customer-service agent it was offered to and when",
        ],
        "contact_email": (
            "an e-mail address, if you gave one when leaving a message while nobody was "
            "online: it is only told that an answer is waiting, never the conversation"
        ),
        "answer_link": (
            "the one-time link to the conversation in that message: only a hash of it is kept, "
            "it works once and for {days} days at most (never past the retention period), and "
            "opening it gives that browser access to the conversation"
        ),
        "content_after": (
            "The chat does not ask for your name, e-mail address or other contact details. Please "
            "do not write sensitive information in the chat. When you start a conversation, your "
            "browser keeps a random identifier so that the chat follows you from page to page."
        ),
        "browser_storage": (
            "The identifier is kept in the chat's own storage in your browser (localStorage). "
            "Where the browser does not allow that to a chat embedded in a website, it is kept in "
            "a cookie, helao_visitor, that only the chat embedded in this website can read. It is "
            "removed when the conversation ends and expires after {days} days at the latest. Where "
            "the browser allows the chat no storage, the chat tries to set a cookie, helao_probe, "
            "when it is opened and removes it at once. Where the browser allows neither, the "
            "conversation lasts only while the page is open."
        ),
        "ua_parsed": " (worked out from your browser's identification string, which is not stored)",
        "ua_kept": " and your browser's identification string (user agent)",
        "pages": (
            "data passed by the web service: the pages you open during the chat (the address "
            "without its parameters{params}, the title and the page you came from; for a page on "
            "another site only that site's address){context}"
        ),
        "params": " other than {names}",
        "context": ", and these further details the website passes to the chat: {names}",
        "guard_mask": (
            "If a message, a comment or a page title holds a personal identity code, a payment "
            "card number or a bank account number, the chat replaces it with a placeholder before "
            "storing it; the number itself is not stored. E-mail addresses and such numbers are "
            "likewise removed from page addresses and titles."
        ),
        "guard_warn": (
            "If a message you write looks like it holds a personal identity code, a payment card "
            "number or a bank account number, the chat warns you before you send it; a message "
            "you send is stored as written. E-mail addresses and such numbers are removed from "
            "page addresses and titles before they are stored."
        ),
        "h_sources": "Regular sources of data",
        "sources": (
            "The data comes from the chat participant and the browser they use. It is not "
            "supplemented from any other source."
        ),
        "h_disclosures": "Regular disclosures of data",
        "disclosures": (
            "The data is not disclosed to third parties. The chat uses no outside services, no "
            "analytics and no advertising."
        ),
        "h_transfers": "Transfers outside the EU or EEA",
        "transfers": "The data is not transferred outside the EU or EEA.",
        "h_security": "Security and monitoring of use",
        "security": [
            "Personal data is confidential. Only those of the controller's staff who need the "
            "data in their work can see conversations: a customer-service agent sees only the "
            "conversations they took part in, and only those specially granted the right can read "
            "every conversation. The responsible person reviews access rights when needed.",
            "Use is monitored: every opening of a conversation, every search, export and "
            "erasure, every sign-in and every change of access rights is recorded in a log. An "
            "entry holds the staff member's user name, the IP address of their connection, the "
            "time and the conversation's reference. The log holds neither message text nor the IP "
            "addresses of chat users. Log entries are kept for {audit_period} and then deleted "
            "automatically.",
            "The system is protected by a firewall and other necessary technical measures.",
        ],
        "tls": "Connections to the chat are encrypted.",
        "h_retention": "Retention period",
        "retention": (
            "The data is kept for {period} and then deleted automatically. This applies to all "
            "the data listed above, including quick feedback."
        ),
        "retention_after": (
            "Of the feedback, only counts are kept (for example the number of satisfied answers "
            "per day), from which nobody can be identified."
        ),
        "backups": (
            "Backups are kept for at most {rotation}, so data may remain in backups for at most "
            "{period} and {rotation} in total. If data is restored from a backup, every "
            "conversation erased after the backup was taken, and any data past its retention "
            "period, is erased again right after the restore."
        ),
        "h_staff": "Data about customer-service staff",
        "staff_intro": "About the staff who use the chat, the service records:",
        "staff": [
            "their user account: user name, name (shown to chat users), e-mail address, password "
            "hash and last sign-in; the account is kept as long as they work in the service",
            "grants and removals of access rights (who approved, who put them into effect, when), "
            "when they acknowledged the guidance, and their console language and availability",
            "for routing chats: which topics they serve, how many chats they can be given at "
            "once, when they last received one, and the availability they last chose",
            "log entries as described above, including the IP address of their connection, and "
            "the change log of the administration interface: kept for {audit_period}",
            "sign-ins and failed sign-in attempts (user name, IP address and browser): kept for "
            "{period}; sign-in sessions are deleted when they end",
            "daily statistics of conversations per agent: after {audit_period} the agent's name "
            "is removed and the numbers are merged into the day's totals",
        ],
        "staff_after": (
            "Messages carry the name of the agent who answered; it is deleted with the "
            "conversation after {period}."
        ),
        "h_rights": "Your rights",
        "rights_intro": "You have the right to",
        "rights": [
            "know what data about you is stored, and get a copy of it",
            "have incorrect data corrected",
            "have your data erased",
            "have processing restricted, and object to processing",
            "lodge a complaint with the supervisory authority, in Finland the Office of the Data "
            "Protection Ombudsman",
        ],
        "supervisor_link": ("https://tietosuoja.fi/en/", "Office of the Data Protection Ombudsman"),
        "h_accessibility": "Feedback on accessibility",
        "accessibility": (
            "The accessibility statement's feedback form stores only the message you write, the "
            "page's language, when it arrived and, if you give one, an e-mail address for our "
            "answer, and when and by whom it was answered. It is no part of the chat register and "
            "is linked to no conversation. The message is deleted automatically after {period}, "
            "or earlier if you ask."
        ),
        "accessibility_link": "Accessibility statement",
        "h_requests": "How to make a request",
        "requests": [
            "The chat window shows the conversation's reference, for example ABCDE-12345. As the "
            "chat does not store your name, quote this reference in your request. If you no "
            "longer have it, tell us roughly when you chatted and something you wrote, so that "
            "the conversation can be found.",
            "Send your request to the contact person for register matters: {contact}. Requests "
            "are answered within one month. You get your data as readable text or as a "
            "machine-readable JSON file; customer service's internal notes are in the JSON file.",
        ],
    },
}


# --- the visitor's own copy and erasure in the chat window (CHAT_VISITOR_SELF_SERVICE) ----------
SELF_SERVICE_TEXTS: dict[str, tuple[str, list[str]]] = {
    "fi": (
        "Lataa tai poista keskustelusi itse",
        [
            "Chat-ikkunassa voit ladata keskustelusi (luettavana tekstinä ja kaikki tallennetut "
            "tiedot JSON-muodossa) tai poistaa sen kokonaan, niin kauan kuin selaimesi muistaa "
            "keskustelun. Poistoa ei voi perua.",
            "Jos keskustelu ei enää näy selaimessasi (toinen selain tai laite, tyhjennetyt "
            "tiedot), tee pyyntö keskustelun tunnuksella alla kerrotulla tavalla.",
        ],
    ),
    "sv": (
        "Ladda ned eller radera ditt samtal själv",
        [
            "I chattfönstret kan du ladda ned ditt samtal (som läsbar text och allt som sparats "
            "i JSON-format) eller radera det helt, så länge din webbläsare minns samtalet. En "
            "radering går inte att ångra.",
            "Om samtalet inte längre syns i din webbläsare (en annan webbläsare eller enhet, "
            "rensade uppgifter), gör en begäran med samtalets referens så som beskrivs nedan.",
        ],
    ),
    "en": (
        "Download or delete your conversation yourself",
        [
            "In the chat window you can download your conversation (as readable text, and "
            "everything stored as JSON) or delete it completely, as long as your browser "
            "remembers the conversation. A deletion cannot be undone.",
            "If the conversation no longer shows in your browser (another browser or device, "
            "cleared data), make a request with the conversation's reference as described below.",
        ],
    ),
}


def _self_service_section(lang: str) -> Section | None:
    """Said only while the widget offers it: the notice follows the setting."""
    if not settings.CHAT_VISITOR_SELF_SERVICE:
        return None
    heading, paragraphs = SELF_SERVICE_TEXTS[lang]
    return Section("self-service", heading, paragraphs=list(paragraphs))


def _detail(details: ControllerDetails, key: str) -> str:
    """A controller detail as the notice shows it: names and contacts without bidi controls."""
    return strip_bidi_controls(getattr(details, key) or "")


def _controller_items(details: ControllerDetails, t: dict[str, Any]) -> list[tuple[str, str, str]]:
    labels = t["controller_labels"]
    items = [(labels["name"], _detail(details, "controller_name") or t["not_set"], "")]
    for key in ("business_id", "address", "phone", "email", "website"):
        value = _detail(details, key)
        if not value:
            continue
        href = ""
        if key == "email":
            href = f"mailto:{value}"
        elif key == "phone":
            href = "tel:" + "".join(ch for ch in value if ch.isdigit() or ch == "+")
        elif key == "website" and is_http_url(value):
            # The model refuses anything else; a row that slipped past it is shown, not linked.
            href = value
        items.append((labels[key], value, href))
    return items


def _contact(details: ControllerDetails, t: dict[str, Any]) -> str:
    parts = [_detail(details, key) for key in ("register_contact", "email")]
    # Inline in a sentence of the notice: isolated, so that it cannot reorder the sentence.
    return isolate_plain(", ".join(p for p in parts if p)) or t["not_set"]


def _names(values: list[str]) -> str:
    # Names the operator configured, inline in a sentence: isolated like other configured text.
    return isolate_plain(", ".join(values))


def _content(t: dict[str, Any]) -> list[str]:
    """The data-content bullets as the settings make them true: which device data, which parts
    of a page address, which host context keys (none listed: none mentioned, none stored)."""
    params = settings.CHAT_PAGE_QUERY_PARAMS
    keys = settings.CHAT_CONTEXT_KEYS
    pages = t["pages"].format(
        params=t["params"].format(names=_names(params)) if params else "",
        context=t["context"].format(names=_names(keys)) if keys else "",
    )
    ua = t["ua_kept"] if settings.CHAT_STORE_USER_AGENT else t["ua_parsed"]
    bullets = [bullet.format(ua=ua, pages=pages) for bullet in t["content"]]
    if settings.CHAT_OFFLINE_CONTACT:
        # Listed exactly while the setting lets visitors give it.
        bullets.append(t["contact_email"])
        bullets.append(t["answer_link"].format(days=settings.CHAT_ANSWER_LINK_DAYS))
    return bullets


def _guard(t: dict[str, Any]) -> list[str]:
    """What the identifier guard does under `CHAT_IDENTIFIER_POLICY` (nothing to say when off)."""
    policy = settings.CHAT_IDENTIFIER_POLICY
    return [t[f"guard_{policy}"]] if policy in ("mask", "warn") else []


def privacy_notice(lang: str, *, details: ControllerDetails | None = None) -> Notice:
    """The notice in `lang` (fi, sv or en) from the controller details and live settings."""
    if lang not in NOTICE_LANGUAGES:
        lang = "fi"
    t = TEXTS[lang]
    details = details or ControllerDetails.current()
    period = retention_period_text(settings.CHAT_RETENTION_MONTHS, lang)
    audit_period = retention_period_text(settings.CHAT_AUDIT_RETENTION_MONTHS, lang)
    periods = {"period": period, "audit_period": audit_period}
    rotation = backup_rotation_text(settings.CHAT_BACKUP_ROTATION_DAYS, lang)
    contact = _contact(details, t)
    register_name = _detail(details, "register_name")
    if not register_name or register_name == DEFAULT_REGISTER_NAME:
        register_name = t["register_name_default"]

    security = [p.format(**periods) for p in t["security"]]
    if getattr(settings, "USE_TLS", False):
        security.append(t["tls"])

    sections = [
        Section("name", t["h_name"], paragraphs=[register_name]),
        Section("controller", t["h_controller"], items=_controller_items(details, t)),
        Section(
            "responsible",
            t["h_responsible"],
            paragraphs=[_detail(details, "responsible_person") or t["not_set"], t["responsible"]],
        ),
        Section(
            "contact",
            t["h_contact"],
            paragraphs=[_detail(details, "register_contact") or t["not_set"], t["contact"]],
        ),
        Section(
            "purpose",
            t["h_purpose"],
            paragraphs=list(t["purpose"]),
        ),
        Section(
            "content",
            t["h_content"],
            paragraphs=[t["content_intro"]],
            bullets=_content(t),
            after=[
                t["content_after"],
                t["browser_storage"].format(days=token_max_age_days()),
                *_guard(t),
            ],
        ),
        Section("sources", t["h_sources"], paragraphs=[t["sources"]]),
        Section("disclosures", t["h_disclosures"], paragraphs=[t["disclosures"]]),
        Section("transfers", t["h_transfers"], paragraphs=[t["transfers"]]),
        Section("security", t["h_security"], paragraphs=security),
        Section(
            "retention",
            t["h_retention"],
            paragraphs=[
                t["retention"].format(period=period),
                t["retention_after"],
                t["backups"].format(period=period, rotation=rotation),
            ],
        ),
        Section(
            "staff",
            t["h_staff"],
            paragraphs=[t["staff_intro"]],
            bullets=[b.format(**periods) for b in t["staff"]],
            after=[t["staff_after"].format(**periods)],
        ),
        Section(
            "rights",
            t["h_rights"],
            paragraphs=[t["rights_intro"]],
            bullets=list(t["rights"]),
            links=[t["supervisor_link"]],
        ),
        _self_service_section(lang),
        Section(
            "accessibility",
            t["h_accessibility"],
            paragraphs=[t["accessibility"].format(period=period)],
            links=[(f"/accessibility/?lang={lang}", t["accessibility_link"])],
        ),
        Section(
            "requests",
            t["h_requests"],
            paragraphs=[p.format(contact=contact) for p in t["requests"]],
        ),
    ]
    present = [s for s in sections if s is not None]
    updated = ""
    if details.pk and details.updated_at:
        with translation.override(lang):
            updated = formats.date_format(timezone.localtime(details.updated_at), "DATE_FORMAT")
    return Notice(
        lang=lang,
        title=t["title"],
        intro=t["intro"],
        updated=updated,
        sections=present,
        labels={"updated": t["updated"], "languages": t["languages"]},
        languages=[
            {"code": code, "name": LANGUAGE_NAMES[code], "current": code == lang}
            for code in NOTICE_LANGUAGES
        ],
    )


def privacy_notice_view(request: HttpRequest) -> HttpResponse:
    """/privacy/: the public notice in the asked or preferred language."""
    lang = notice_language(request)
    notice = privacy_notice(lang)
    response = render(request, "chat/privacy.html", {"notice": notice, "LANGUAGE_CODE": lang})
    response["Content-Language"] = lang
    return response
