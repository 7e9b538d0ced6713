"""ISO 639 language codes and their English names, for checking `language:` values.

Taken from the ISO 639-2 tables, which list every ISO 639-1 code beside its 639-2 ones.
A value that is no code is refused in feeds.yaml: a typo must not quietly turn off
detection or send an engine a language it has never heard of.
"""

from __future__ import annotations

#: Two-letter code (ISO 639-1) and English name, one a line.
_TWO_LETTER = """
aa Afar
ab Abkhazian
ae Avestan
af Afrikaans
ak Akan
am Amharic
an Aragonese
ar Arabic
as Assamese
av Avaric
ay Aymara
az Azerbaijani
ba Bashkir
be Belarusian
bg Bulgarian
bh Bihari languages
bi Bislama
bm Bambara
bn Bengali
bo Tibetan
br Breton
bs Bosnian
ca Catalan
ce Chechen
ch Chamorro
co Corsican
cr Cree
cs Czech
cu Church Slavic
cv Chuvash
cy Welsh
da Danish
de German
dv Divehi
dz Dzongkha
ee Ewe
el Greek, Modern (1453-)
en English
eo Esperanto
es Spanish
et Estonian
eu Basque
fa Persian
ff Fulah
fi Finnish
fj Fijian
fo Faroese
fr French
fy Western Frisian
ga Irish
gd Gaelic
gl Galician
gn Guarani
gu Gujarati
gv Manx
ha Hausa
he Hebrew
hi Hindi
ho Hiri Motu
hr Croatian
ht Haitian
hu Hungarian
hy Armenian
hz Herero
ia Interlingua (International Auxiliary Language Association)
id Indonesian
ie Interlingue
ig Igbo
ii Sichuan Yi
ik Inupiaq
io Ido
is Icelandic
it Italian
iu Inuktitut
ja Japanese
jv Javanese
ka Georgian
kg Kongo
ki Kikuyu
kj Kuanyama
kk Kazakh
kl Kalaallisut
km Central Khmer
kn Kannada
ko Korean
kr Kanuri
ks Kashmiri
ku Kurdish
kv Komi
kw Cornish
ky Kirghiz
la Latin
lb Luxembourgish
lg Ganda
li Limburgan
ln Lingala
lo Lao
lt Lithuanian
lu Luba-Katanga
lv Latvian
mg Malagasy
mh Marshallese
mi Maori
mk Macedonian
ml Malayalam
mn Mongolian
mr Marathi
ms Malay
mt Maltese
my Burmese
na Nauru
nb Bokmål, Norwegian
nd Ndebele, North
ne Nepali
ng Ndonga
nl Dutch
nn Norwegian Nynorsk
no Norwegian
nr Ndebele, South
nv Navajo
ny Chichewa
oc Occitan (post 1500)
oj Ojibwa
om Oromo
or Oriya
os Ossetian
pa Panjabi
pi Pali
pl Polish
ps Pushto
pt Portuguese
qu Quechua
rm Romansh
rn Rundi
ro Romanian
ru Russian
rw Kinyarwanda
sa Sanskrit
sc Sardinian
sd Sindhi
se Northern Sami
sg Sango
si Sinhala
sk Slovak
sl Slovenian
sm Samoan
sn Shona
so Somali
sq Albanian
sr Serbian
ss Swati
st Sotho, Southern
su Sundanese
sv Swedish
sw Swahili
ta Tamil
te Telugu
tg Tajik
th Thai
ti Tigrinya
tk Turkmen
tl Tagalog
tn Tswana
to Tonga (Tonga Islands)
tr Turkish
ts Tsonga
tt Tatar
tw Twi
ty Tahitian
ug Uighur
uk Ukrainian
ur Urdu
uz Uzbek
ve Venda
vi Vietnamese
vo Volapük
wa Walloon
wo Wolof
xh Xhosa
yi Yiddish
yo Yoruba
za Zhuang
zh Chinese
zu Zulu
"""

#: Three-letter codes (ISO 639-2/T and /B), with ":xx" where a two-letter one exists.
_THREE_LETTER = """
aar:aa abk:ab ace ach ada ady afa afh afr:af ain aka:ak akk alb:sq ale alg alt amh:am
ang anp apa ara:ar arc arg:an arm:hy arn arp art arw asm:as ast ath aus ava:av ave:ae
awa aym:ay aze:az bad bai bak:ba bal bam:bm ban baq:eu bas bat bej bel:be bem ben:bn ber
bho bih:bh bik bin bis:bi bla bnt bod:bo bos:bs bra bre:br btk bua bug bul:bg bur:my byn
cad cai car cat:ca cau ceb cel ces:cs cha:ch chb che:ce chg chi:zh chk chm chn cho chp
chr chu:cu chv:cv chy cmc cnr cop cor:kw cos:co cpe cpf cpp cre:cr crh crp csb cus
cym:cy cze:cs dak dan:da dar day del den deu:de dgr din div:dv doi dra dsb dua dum
dut:nl dyu dzo:dz efi egy eka ell:el elx eng:en enm epo:eo est:et eus:eu ewe:ee ewo fan
fao:fo fas:fa fat fij:fj fil fin:fi fiu fon fra:fr fre:fr frm fro frr frs fry:fy ful:ff
fur gaa gay gba gem geo:ka ger:de gez gil gla:gd gle:ga glg:gl glv:gv gmh goh gon gor
got grb grc gre:el grn:gn gsw guj:gu gwi hai hat:ht hau:ha haw heb:he her:hz hil him
hin:hi hit hmn hmo:ho hrv:hr hsb hun:hu hup hye:hy iba ibo:ig ice:is ido:io iii:ii ijo
iku:iu ile:ie ilo ina:ia inc ind:id ine inh ipk:ik ira iro isl:is ita:it jav:jv jbo
jpn:ja jpr jrb kaa kab kac kal:kl kam kan:kn kar kas:ks kat:ka kau:kr kaw kaz:kk kbd kha
khi khm:km kho kik:ki kin:rw kir:ky kmb kok kom:kv kon:kg kor:ko kos kpe krc krl kro kru
kua:kj kum kur:ku kut lad lah lam lao:lo lat:la lav:lv lez lim:li lin:ln lit:lt lol loz
ltz:lb lua lub:lu lug:lg lui lun luo lus mac:mk mad mag mah:mh mai mak mal:ml man mao:mi
map mar:mr mas may:ms mdf mdr men mga mic min mis mkd:mk mkh mlg:mg mlt:mt mnc mni mno
moh mon:mn mos mri:mi msa:ms mul mun mus mwl mwr mya:my myn myv nah nai nap nau:na
nav:nv nbl:nr nde:nd ndo:ng nds nep:ne new nia nic niu nld:nl nno:nn nob:nb nog non
nor:no nqo nso nub nwc nya:ny nym nyn nyo nzi oci:oc oji:oj ori:or orm:om osa oss:os ota
oto paa pag pal pam pan:pa pap pau peo per:fa phi phn pli:pi pol:pl pon por:pt pra pro
pus:ps que:qu raj rap rar roa roh:rm rom ron:ro rum:ro run:rn rup rus:ru sad sag:sg sah
sai sal sam san:sa sas sat scn sco sel sem sga sgn shn sid sin:si sio sit sla slk:sk
slo:sk slv:sl sma sme:se smi smj smn smo:sm sms sna:sn snd:sd snk sog som:so son sot:st
spa:es sqi:sq srd:sc srn srp:sr srr ssa ssw:ss suk sun:su sus sux swa:sw swe:sv syc syr
tah:ty tai tam:ta tat:tt tel:te tem ter tet tgk:tg tgl:tl tha:th tib:bo tig tir:ti tiv
tkl tlh tli tmh tog ton:to tpi tsi tsn:tn tso:ts tuk:tk tum tup tur:tr tut tvl twi:tw
tyv udm uga uig:ug ukr:uk umb und urd:ur uzb:uz vai ven:ve vie:vi vol:vo vot wak wal war
was wel:cy wen wln:wa wol:wo xal xho:xh yao yap yid:yi yor:yo ypk zap zbl zen zgh zha:za
zho:zh znd zul:zu zun zxx zza
"""

#: English name of each two-letter code.
TWO_LETTER: dict[str, str] = dict(line.split(" ", 1) for line in _TWO_LETTER.split("\n") if line)
#: Each three-letter code and its two-letter equivalent, if any.
THREE_LETTER: dict[str, str | None] = {
    code: (short or None) for code, _, short in (t.partition(":") for t in _THREE_LETTER.split())
}
