"""Explainable security relevance scoring for a news item's title and description.

The scorer is a weighted lexicon, not a model: every point of a score can be traced
to a matched term, a penalty, a cap or the feed weight listed in ``Relevance.reasons``.

Terms borrow from ACLED event types (battles, explosions/remote violence, violence
against civilians, riots, strategic developments), CAMEO root codes 13-20 (threaten,
protest violently, exhibit military posture, reduce relations, coerce, assault, fight,
unconventional mass violence) and UCDP conflict vocabulary.

Scoring rules:

* A term is *strong* when its weight is >= 1.0; one strong term passes the default
  threshold on its own. Weaker terms (attack, strike, war, forces, ...) only count
  when the article also has a strong term, or when they sit right next to a named
  place ("Sudan war", "Israeli strikes", "war in Ukraine"), which upgrades them.
* Title matches weigh 1.5x description matches; each term counts once per field;
  each topic's contribution is capped.
* Negative contexts (sport, business, labour, entertainment, weather, tech, health,
  figurative use) subtract; neutral phrases ("hunger strike", "war on drugs",
  "artificial intelligence") swallow their words so those add nothing.
* "war on drugs" is deliberately neutral: on its own it is policy rhetoric, so a
  story scores only if real violence terms (cartel gunmen, clashes, ...) appear.
* The South Caucasus (Armenia, Azerbaijan, Georgia's Tbilisi) is filed under
  "Central Asia", following ACLED's "Caucasus and Central Asia" region; Egypt is
  "Middle East". The bare word "Georgia" is left out: it is too often the US state.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from itertools import compress, count

__all__ = [
    "REGIONS",
    "TOPICS",
    "Relevance",
    "detect_region",
    "is_security",
    "score_article",
]

TOPICS: dict[str, str] = {
    "armed_conflict": "Armed conflict",
    "terrorism": "Terrorism",
    "militant_groups": "Militant and insurgent groups",
    "military": "Military and defence",
    "missiles_nuclear": "Missiles, nuclear and WMD",
    "intelligence": "Intelligence and espionage",
    "cyber": "State cyber operations",
    "coups_unrest": "Coups and violent unrest",
    "diplomacy": "Sanctions and conflict diplomacy",
    "humanitarian": "War-driven humanitarian crises",
}

REGIONS: tuple[str, ...] = (
    "Middle East",
    "Europe",
    "Russia and Ukraine",
    "South Asia",
    "East Asia and Pacific",
    "Africa",
    "Americas",
    "Central Asia",
)

TITLE_FACTOR = 1.5
TOPIC_CAP = 4.0
STRONG_WEIGHT = 1.0
ANCHORED_WEIGHT = 1.2

_NEGATIVE = "negative"
_NEUTRAL = "neutral"


@dataclass(frozen=True)
class Relevance:
    """Score, topics, region and the reasons behind them for one article."""

    score: float
    topics: tuple[str, ...]
    region: str | None
    reasons: tuple[str, ...]


# Lexicon format: one "weight: term, term, ..." line per weight. The last word of a
# term is inflected (plural, -ed, -ing) unless the term ends with "=". Hyphenated
# terms also match their spaced form ("cease-fire" ~ "cease fire").
_TOPIC_TERMS: dict[str, str] = {
    "armed_conflict": """
        2.0: airstrike, air strike, drone strike, missile strike, rocket attack, shelling=,
             ground offensive, counteroffensive, counter-offensive, heavy fighting=,
             fierce fighting=, armed clashes=, cluster munitions=, barrel bomb,
             bombing campaign, bombardment
        1.8: air raid, artillery=, invasion, ambush, rocket fire=,
             mortar fire=, shelled=, ied, improvised explosive device, kamikaze drone,
             shahed, civil war, hostilities=, firefight, launches offensive=,
             launched an offensive=
        1.5: settler attack, settlers attack, settler violence=, gunmen=, massacre, sniper, landmine, land mine, explosive device, drone attack,
             battlefield, besieged=, invade, combatant, belligerent, retaliatory strike,
             cross-border attack, incursion, strikes kill=, strike kills=, strikes killed=,
             strike killed=, shot down=, downed=, war-torn=, gunmen storm,
             troops storm, fighters storm
        1.5: deadly clashes=, fierce clashes=, heavy clashes=, border clashes=,
             clashes erupt=, clashes erupted=, clashes broke out=, sectarian clashes=,
             ethnic clashes=, tribal clashes=, clashes between troops=
        1.2: bombing, siege, warring=, warfare=, occupied territory,
             occupied territories=, war zone, skirmish
        1.0: frontline=, front line=, front lines=, frontlines=
        1.2: projectile
        1.0: drone, gunfire=, munition, shoot down=, shoots down=
        0.8: clashes=, mortar, offensive=, combat=, death toll, gunman=, bombed=, civilians=, casualties=
        0.6: war, conflict, fighting=, battle, attack, strike, assault, kill,
             wounded=, injured=, bomb, rocket, explosion, blast, clash=, clashed=,
             shooting=, escalation, escalate
        0.3: fire, shot=, shots=
    """,
    "terrorism": """
        2.2: suicide bomber, suicide bombing, suicide attack, terror attack,
             terrorist attack, car bomb, truck bomb, terror plot
        2.0: terrorist, terrorism=, jihadist, hostage-taking=, bomb plot, terror suspect,
             terror cell
        1.8: jihadi, hostage, mass abduction, beheaded=, beheading
        1.5: bomb blast, bomb attack, vehicle ramming=, ramming attack, counter-terrorism=,
             counterterrorism=, anti-terror=, anti-terrorism=, lone wolf=, kidnappers=,
             plot to kill=, plotting to kill=, plotted to kill=, attack on tourists=,
             attack on worshippers=, attack on a mosque=, attack on a church=
        1.2: jihad=, extremist, extremism=, radicalised=, radicalized=, radicalisation=,
             radicalization=, explosives=
        0.8: terror=, kidnapped=, kidnapping, abduct, abduction, stabbing attack,
             knife attack, bomb threat
    """,
    "militant_groups": """
        2.0: hamas=, hezbollah=, hizbollah=, houthi, isis=, isil=, islamic state=, daesh=,
             al-qaeda=, al-qaida=, al-shabaab=, al-shabab=, shabaab=, boko haram=,
             iswap=, jnim=, m23=, islamic jihad=, hayat tahrir al-sham=,
             lashkar-e-taiba=, jaish-e-mohammed=, tehreek-e-taliban=, wagner group=,
             janjaweed=, rapid support forces=, abu sayyaf=, ansar allah=, pkk=
        1.8: insurgent, insurgency, taliban=, ttp=, islamist militants=, militants storm,
             rebels storm
        1.5: militant, militia, militiamen=, paramilitary, paramilitaries=, guerrilla,
             armed group, wagner=, rsf=, farc=, eln=, rebel forces=, rebel fighters=,
             rebel group, rebel-held=, rebel-controlled=, death squad, tren de aragua=
        1.0: separatist
        1.2: hts=, warlord, armed gang, africa corps=, militant group
        1.0: rebels=, gang violence=, bandits=, armed bandits=
        0.6: rebel, fighters=, cartel, gangs=
    """,
    "military": """
        2.0: warship, aircraft carrier, fighter jet, military drill, military exercise,
             military buildup, military build-up, naval blockade, troop deployment,
             warplane, military aid=, battle tank
        1.8: irgc=, stealth bomber, revolutionary guards=, revolutionary guard=,
             combat readiness=
        1.5: troop, nato=, idf=, defence ministry, defense ministry, ministry of defence=,
             ministry of defense=, defence minister, defense minister, defence secretary,
             defense secretary, secretary of defense=, defence spending=,
             defense spending=, defence budget, defense budget, military spending=,
             arms deal, arms sale, arms export, weapons deliveries=, weapons delivery=,
             weapons shipment, air defence, air defense, anti-aircraft=, mobilisation=,
             mobilization=, conscription=, conscript, reservist, special forces=,
             military service=, national service=,
             peacekeeper, peacekeeping=, military base, air base, airbase, naval base,
             military operation, military campaign, airspace violation,
             violated airspace=, show of force=, war games=, frigate, armoured vehicle,
             seizes tanker=, seized tanker=, seizes oil tanker=, seized oil tanker=,
             tanker seizure, coast guard rams=, coastguard rams=, coast guard rammed=,
             coastguard rammed=, coast guard vessel rammed=, coastguard vessel rammed=,
             coast guard ship rammed=, coastguard ship rammed=, coast guard vessel rams=,
             coastguard vessel rams=,
             armored vehicle, nuclear submarine
        1.2: defence treaty, defense treaty, mutual defence=, mutual defense=, ukmto=,
             soldier, pentagon=, armed forces=, army chief, military chief, general staff=,
             submarine, arms race, pla=, fighter planes=
        1.2: royal navy=, royal marines=
        1.0: navy=, naval=, air force, marines=, bomber, frontline troops=,
             royal air force=
        1.5: army on high alert=, forces on high alert=, military on high alert=,
             troops on high alert=, army on alert=, combat alert=
        0.8: high alert=, military=, army=, weapons=, weapon=, destroyer, border guards=, deployment,
             airspace=
        0.6: arms=, tanks=, deploy, drills=, patrol, commander
        0.4: armed=, defence=, defense=, forces=, tank=
        0.3: security=
    """,
    "missiles_nuclear": """
        2.5: ballistic missile, nuclear weapon, nuclear warhead, chemical weapon,
             biological weapon, icbm, intercontinental ballistic missile,
             hypersonic missile, nuclear strike
        2.2: cruise missile, missile test, nuclear test, nerve agent, novichok=, sarin=,
             tactical nuclear=
        2.0: warhead, missile launch, nuclear programme, nuclear program, uranium enrichment=,
             enriched uranium=, wmd=, wmds=, dirty bomb, iron dome=, himars=, atacms=,
             storm shadow=, nuclear arsenal, missile defence=, missile defense=
        1.8: nuclear-capable=, nuclear threat, nuclear site, nuclear facility,
             denuclearisation=, denuclearization=, chemical attack
        1.5: missile, interceptor, rocket launcher, nuclear deal, nuclear talks=,
             test-fire
        1.2: iaea=, non-proliferation=, nonproliferation=, hypersonic=
        1.0: disarmament=
        0.8: enrichment=, plutonium=, intercepted=
        0.6: nuclear=, uranium=
    """,
    "intelligence": """
        2.0: espionage=, spy ring, spy agency, spy chief, mossad=, double agent,
             spy balloon, spy network
        1.8: spy, gru=, intelligence agency, spy plane, spy ship
        1.5: military intelligence=, intelligence service, intelligence officer,
             intelligence chief, intelligence agent, cia=, mi5=, mi6=, fsb=, saboteur,
             assassinate, assassination, targeted killing, covert operation,
             surveillance balloon, spymaster
        2.0: sabotage plot, sabotage plots=
        1.5: act of sabotage=, acts of sabotage=, suspected sabotage=, sabotage attack
        1.2: svr=, secret police=, state secrets=, treason=
        1.0: kgb=, classified documents=, defector, foreign agent, spying charges=
        0.8: covert=, sabotage
        0.6: intelligence=, secret service=
        0.5: surveillance=, informant
    """,
    "cyber": """
        2.2: cyber espionage=, cyberespionage=, state-sponsored hackers=,
             state-backed hackers=, government-backed hackers=, cyber warfare=,
             cyberwarfare=, state-sponsored hacking=, state-backed hacking=
        2.0: apt28=, apt29=, fancy bear=, cozy bear=, lazarus group=, sandworm=,
             volt typhoon=, salt typhoon=, pegasus spyware=
        1.8: cyberattack, cyber attack, cyber sabotage=
        1.5: cyber command=, cyber army=, hacking campaign, influence operation,
             election interference=, cyber operation, wiper malware=
        1.2: spyware=, hacking group, hacker group, cyber threat
        0.8: ransomware=, hacker, malware=, ddos=, critical infrastructure=,
             disinformation=, state-sponsored=, state-backed=
        0.6: hack, zero-day=
        0.5: cyber=, cybersecurity=, data breach, power grid=
    """,
    "coups_unrest": """
        2.5: coup attempt, attempted coup=, failed coup=, military coup, military takeover,
             seized power=, seize power=, seizes power=, seizing power=
        2.0: coup, coup d'etat=, coup d'état=, junta, martial law=, insurrection, mutiny,
             assassination attempt, protesters killed=, protesters shot=,
             shoot protesters=, shot protesters=, fire on protesters=,
             opened fire on protesters=, open fire on protesters=, shoot demonstrators=,
             shot demonstrators=,
             violent protest, sectarian violence=, ethnic violence=, coup plot
        1.5: rioter, riot police=, tear gas=, teargas=, rubber bullets=, live ammunition=,
             live rounds=, security forces=, civil unrest=, political violence=,
             communal violence=, deadly protest, storm parliament=, stormed parliament=,
             storming parliament=, storm the parliament=, stormed the parliament=,
             mutineer, putsch, protesters storm, rioters storm, demonstrators storm
        1.2: mob storm
        1.5: deadly crackdown, violent crackdown, brutal crackdown, military crackdown,
             bloody crackdown, crackdown on protesters=, crackdown on protests=,
             crackdown on dissent=, crackdown on demonstrators=
        1.2: riot, uprising, overthrow, mob violence=, water cannon
        1.0: curfew
        1.0: unrest=, internet shutdown, anti-government protest, state of emergency=
        0.8: stormed=, storming=, ousted=, toppled=
        0.6: crackdown, looting=, looted=, arson=
        0.5: protester, demonstrator, violence=
        0.4: protest
    """,
    "diplomacy": """
        2.0: ceasefire, cease-fire, arms embargo, no-fly zone, sanctions package,
             hostage deal
        1.8: peace talks=, expels diplomats=, expelled diplomats=, expel diplomats=,
             expels ambassador=, expelled ambassador=, expels envoy=, expelled envoy=
        1.5: truce, sanctions on=, sanctions against=, new sanctions=, fresh sanctions=,
             tougher sanctions=, peace deal, peace plan, peace agreement, peace accord,
             prisoner swap, prisoner exchange, annexation=, severs ties=, severed ties=,
             cuts ties=, cut ties=, recalls ambassador=, recalled ambassador=,
             recalls envoy=, shadow fleet=, security council=, demilitarised zone=,
             demilitarized zone=, peace process
        1.2: vows revenge=, vowed revenge=, vows retaliation=, vowed retaliation=,
             vows to retaliate=, threatens retaliation=, sanctions=, diplomatic row, diplomatic crisis, territorial dispute,
             annexed=, annexing=, peace summit, de-escalation=, deescalation=, peace envoy,
             oil price cap=, border dispute
        1.0: embargo=, buffer zone, asset freeze
        0.8: expel, reprisal, ultimatum
        0.6: annex=
        0.6: sanction, retaliation=, retaliate, envoy, mediator, mediation=,
             export controls=, diplomatic ties=
        0.4: threaten, diplomat, foreign minister
        0.3: threat
    """,
    "humanitarian": """
        2.0: genocide, ethnic cleansing=, crimes against humanity=, war crime,
             humanitarian corridor
        1.8: mass grave, mass killing, atrocity, humanitarian pause,
             civilian casualties=, civilians killed=, child soldier
        1.5: civilian deaths=, aid convoy, internally displaced=, displacement camp,
             humanitarian catastrophe, human shields=, forced displacement=,
             humanitarian ceasefire
        1.2: famine, starvation=, humanitarian crisis, refugee camp, aid worker, unrwa=,
             international criminal court=
        1.0: unhcr=, icj=, international court of justice=
        0.8: refugee, displaced=
        0.6: humanitarian=, malnutrition=, icc=
        0.5: evacuation, evacuate
    """,
    _NEGATIVE: """
        -3.0: price war, trade war, tariff war, bidding war, talent war, streaming war,
              console war, star wars=, battle of the bands=, cyber monday=, culture war,
              chip war, format war
        -2.5: penalty shootout, hostile takeover, boardroom coup, transfer coup,
              marketing coup, spy thriller
        -2.0: war on poverty=, war on cancer=, war chest, pitch invasion, heart attack,
              panic attack, asthma attack, bath bomb, attack ad, attacking play=,
              attacking midfielder, lightning strike, workers strike=, workers strikes=,
              strike action=, rail strike, train strike, tube strike, postal strike,
              nurses strike=, doctors strike=, teachers strike=, pilots strike=,
              staff strike=, junior doctors strike=, strike ballot, pay dispute,
              picket line, trade union, box office=, market share=, premier league=,
              champions league=, super bowl=, tropical storm, winter storm, phone launch,
              nuclear family=, spy film, spy novel, spy drama, spy series=
        -1.5: general strike, walkout, pay rise, war of words=, legal battle, court battle,
              custody battle, battleground state, grand slam, grand prix, world cup,
              formula one=, transfer window, cup final, booster shot, flu shot,
              video game, reality show, tv show, red carpet, pop star, product launch,
              shark attack, dog attack, campaign trail, heat wave, met office=,
              football=, soccer=, cricket=, tennis=, rugby=, basketball=, baseball=,
              golf=, nba=, nfl=, f1=, ufc=, boxing=, athletics=, wimbledon=, striker,
              midfielder, goalkeeper, quarterback, batsman, wicket, innings=, film=,
              films=, movie, album, celebrity, bombshell, oscar, oscars=, grammy,
              grammys=, emmy, emmys=, netflix=, hbo=, sequel, sitcom, k-pop=, smartphone,
              iphone, hurricane, typhoon, cyclone, tornado, tornadoes=, heatwave,
              blizzard, earthquake, quake, tsunami, fire sale
        -1.2: defender, league, championship, singer, rapper, actor, actress, actresses=,
              thriller
        -1.0: match=, matches=, tournament, fixture, derby=, fc=, playoff, semi-final,
              semifinal, quarter-final, quarterfinal, teammate, shootout, olympics=,
              olympic=, trailer=, premiere, concert, episode, musical=, opera=, divorce,
              fashion=, gaming=, streaming=, stocks=, earnings=, profit, revenue=, ipo=,
              merger, dividend, nasdaq=, dow jones=, ftse=, stock market, wall street=,
              supermarket, interest rate, house prices=, real estate=, pay deal,
              storm=, storms=, stormy=, flood, floods=, flooding=, rainfall=,
              snowfall=, weather=, wildfire, bushfire, landslide, lightning=,
              firefighter, laptop, gadget, chatbot, ai model, app store,
              software update, vaccine, vaccination, cancer=, diabetes=, obesity=,
              diet=, dementia=, mental health=, clinical trial, heart disease=,
              weight loss=, opinion poll, manifesto, battleground, sexual assault,
              armed robbery, domestic violence=, mps=, mp=, tory=, tories=,
              labour party=, conservative party=, backbench, backbencher, prince=,
              princess=, duchess=, royal family=, tariff, halloween=, costume
        -1.5: light show, drone light show, drones light up=, fireworks=, firework display
        -0.8: goal=, goals=, coach=, coaches=, documentary, dating=, investor,
              quarterly=, mortgage, retailer, startup, drought=, union, wage,
              flu=, nhs=, ai=, scored=
        -0.5: series=, shares=, inflation=, sales=, oil prices=, knockout=,
              voters=, turnout=
    """,
    _NEUTRAL: """
        0: hunger strike, war on drugs=, strike a deal=, strikes a deal=, strike deal=,
           strikes deal=, struck a deal=, under fire=, came under fire=,
           artificial intelligence=, business intelligence=, emotional intelligence=,
           think tank, fish tank, tank top, septic tank, navy blue=, trooping the colour=,
           salvation army=, tory rebels=, rebel mps=, labour rebels=, rebel wilson=,
           backbench rebels=, conservative rebels=, nuclear option=, european union=,
           african union=, soviet union=, fire brigade=, fire service=, life hack,
           went ballistic=, goes ballistic=, war memorial, hostage to fortune=,
           rally the troops=, rallies the troops=, drone show, delivery drone,
           drone delivery=, fire drill, security guard, social security=,
           security camera, security breach=, cyber security=, border security=,
           food security=, energy security=, job security=, data security=,
           attack on titan=, frontline workers=, frontline staff=, frontline services=,
           front line workers=, front-line workers=, frontline nhs=, invasion of privacy=,
           alien invasion=, character assassination=, benefit sanctions=, news embargo=,
           embargoed until=
    """,
}

# Place weights: great powers that mostly appear as actors abroad weigh less, so
# "US strikes Iran" files under the Middle East.
_PLACE_TERMS: dict[str, str] = {
    "Middle East": """
        1.0: israel, israeli, jerusalem, tel aviv, gaza, gazan, gaza strip, west bank,
             rafah, khan younis, jenin, nablus, hebron, golan, golan heights, palestine,
             palestinian, lebanon, lebanese, beirut, hezbollah, hizbollah, syria, syrian,
             damascus, aleppo, idlib, homs, deir ez-zor, latakia, iraq, iraqi, baghdad,
             mosul, erbil, basra, kirkuk, kurdistan, kurdish, kurd, iran, iranian, tehran,
             isfahan, natanz, fordow, irgc, khamenei, yemen, yemeni, sanaa, aden,
             hodeidah, houthi, hamas, red sea, bab el-mandeb, strait of hormuz, hormuz,
             persian gulf, gulf of aden, saudi, saudi arabia, riyadh, uae,
             united arab emirates, emirati, abu dhabi, dubai, qatar, qatari, doha,
             bahrain, kuwait, oman, jordan, jordanian, amman, egypt, egyptian, cairo,
             sinai, turkey, turkish, türkiye, turkiye, ankara, istanbul, erdogan,
             netanyahu, idf, mossad, islamic jihad, pkk, middle east, mideast, levant,
             ansar allah
    """,
    "Russia and Ukraine": """
        1.0: russia, russian, moscow, kremlin, putin, ukraine, ukrainian, kyiv, kiev,
             zelensky, zelenskyy, zelenskiy, kharkiv, odesa, odessa, lviv, dnipro,
             zaporizhzhia, kherson, mykolaiv, sumy, donetsk, luhansk, donbas, donbass,
             crimea, crimean, sevastopol, mariupol, bakhmut, avdiivka, pokrovsk, kursk,
             belgorod, bryansk, st petersburg, saint petersburg, chechnya, chechen,
             dagestan, siberia, kaliningrad, shoigu, lavrov
        0.6: fsb, gru, black sea
        0.5: wagner
    """,
    "Europe": """
        1.0: europe, england, scotland, scottish, wales, welsh, northern ireland, belfast,
             ireland, irish, dublin, germany, german, berlin, munich, italy, italian,
             rome, spain, spanish, madrid, barcelona, portugal, portuguese, lisbon,
             netherlands, dutch, amsterdam, hague, belgium, belgian, austria,
             austrian, vienna, switzerland, swiss, geneva, poland, polish, warsaw,
             czech, prague, slovakia, hungary, hungarian, budapest, romania, romanian,
             bucharest, bulgaria, bulgarian, greece, greek, athens, cyprus, serbia,
             serbian, belgrade, kosovo, bosnia, sarajevo, croatia, montenegro, albania,
             north macedonia, moldova, moldovan, chisinau, transnistria, belarus,
             belarusian, minsk, lukashenko, baltic, baltics, estonia, estonian, tallinn,
             latvia, latvian, riga, lithuania, lithuanian, vilnius, finland, finnish,
             helsinki, sweden, swedish, stockholm, norway, norwegian, oslo, denmark,
             danish, copenhagen, greenland, iceland, balkans, scandinavia, mi5, mi6
        0.8: france, french, paris, macron
        0.6: european, eu, european union, brussels, uk, britain, british, london
        0.5: nato
    """,
    "South Asia": """
        1.0: afghanistan, afghan, kabul, kandahar, helmand, taliban, pakistan, pakistani,
             islamabad, karachi, lahore, peshawar, quetta, rawalpindi, balochistan,
             baluchistan, baloch, khyber pakhtunkhwa, khyber, waziristan, ttp, india,
             new delhi, delhi, mumbai, kashmir, kashmiri, srinagar, jammu, pahalgam,
             manipur, punjab, bangladesh, bangladeshi, dhaka, sri lanka, sri lankan,
             colombo, nepal, nepalese, kathmandu, maldives, bhutan, modi,
             lashkar-e-taiba, jaish-e-mohammed, tehreek-e-taliban, line of control,
             south asia
        0.8: indian
    """,
    "East Asia and Pacific": """
        1.0: china, chinese, beijing, shanghai, hong kong, xinjiang, uyghur, uighur,
             tibet, tibetan, taiwan, taiwanese, taipei, taiwan strait, south china sea,
             east china sea, japan, japanese, tokyo, okinawa, north korea, north korean,
             pyongyang, kim jong un, south korea, south korean, seoul, korea, korean,
             korean peninsula, philippines, philippine, filipino, manila, mindanao,
             vietnam, vietnamese, hanoi, myanmar, burma, burmese, naypyidaw, yangon,
             rakhine, rohingya, thailand, thai, bangkok, cambodia, cambodian,
             phnom penh, laos, indonesia, indonesian, jakarta, papua,
             papua new guinea, malaysia, malaysian, kuala lumpur, singapore, canberra,
             new zealand, solomon islands, fiji, abu sayyaf, xi jinping, sea of japan,
             yellow sea, east asia, asia-pacific
        0.8: australia, australian, indo-pacific
        0.6: pla
    """,
    "Africa": """
        1.0: africa, african, african union, sahel, mali, malian, bamako, burkina faso,
             burkinabe, ouagadougou, niger, nigerien, niamey, nigeria, nigerian, abuja,
             lagos, borno, chad, chadian, n'djamena, sudan, sudanese, khartoum, darfur,
             el fasher, el-fasher, omdurman, south sudan, juba, ethiopia, ethiopian,
             addis ababa, tigray, amhara, eritrea, eritrean, somalia, somali, mogadishu,
             somaliland, puntland, kenya, kenyan, nairobi, uganda, ugandan, kampala,
             rwanda, rwandan, kigali, burundi, congo, congolese, drc, kinshasa, goma,
             kivu, north kivu, south kivu, ituri, mozambique, cabo delgado, cameroon,
             central african republic, bangui, libya, libyan, tripoli, benghazi,
             tunisia, tunisian, tunis, algeria, algerian, algiers, morocco, moroccan,
             rabat, western sahara, senegal, guinea, guinea-bissau, ivory coast,
             côte d'ivoire, cote d'ivoire, ghana, togo, benin, sierra leone, liberia,
             zimbabwe, south africa, south african, johannesburg, pretoria, cape town,
             angola, zambia, malawi, madagascar, gabon, al-shabaab, al-shabab, shabaab,
             boko haram, iswap, jnim, m23, rsf, rapid support forces, janjaweed,
             horn of africa
    """,
    "Americas": """
        1.0: canada, canadian, ottawa, mexico, mexican, mexico city, sinaloa, tijuana,
             guatemala, honduras, el salvador, salvadoran, nicaragua, costa rica, panama,
             cuba, cuban, havana, haiti, haitian, port-au-prince, dominican republic,
             colombia, colombian, bogota, bogotá, venezuela, venezuelan, caracas, maduro,
             ecuador, ecuadorian, quito, guayaquil, peru, peruvian, bolivia, brazil,
             brazilian, brasilia, rio de janeiro, são paulo, sao paulo, argentina,
             argentine, buenos aires, chile, chilean, paraguay, uruguay, guyana,
             essequibo, latin america, caribbean, farc, eln, tren de aragua
        0.6: usa, america, american, united states, washington
        0.5: white house, pentagon
    """,
    "Central Asia": """
        1.0: central asia, kazakhstan, kazakh, astana, almaty, uzbekistan, uzbek, tashkent,
             kyrgyzstan, kyrgyz, bishkek, tajikistan, tajik, dushanbe, turkmenistan,
             turkmen, ashgabat, caucasus, south caucasus, armenia, armenian, yerevan,
             azerbaijan, azerbaijani, azeri, baku, nagorno-karabakh, karabakh, tbilisi,
             abkhazia, south ossetia
    """,
}

# Weak terms that turn strong right next to a place: "Sudan war", "Israeli strikes",
# "Gaza death toll" (place first) or "war in Ukraine", "explosion at Quetta", "hackers
# linked to North Korea" (place after one or two connector words). "<place> attack" is
# left out: "England's attack" is usually cricket or football. Places weighing under
# ANCHOR_MIN_PLACE (US, UK, EU, NATO, London...) anchor nothing: "attack on London"
# is more often a politician's speech than a bomb.
_WAR_WORDS = {"war", "wars", "conflict", "fighting", "explosion", "explosions"}
_WAR_WORDS |= {"blast", "blasts", "clashes", "hackers", "hacker"}
_ANCHOR_BEFORE = frozenset(_WAR_WORDS | {"army", "military", "strikes", "forces", "death toll"})
_ANCHOR_AFTER = frozenset(_WAR_WORDS | {"attack", "attacks"})
_ANCHORABLE = _ANCHOR_BEFORE | _ANCHOR_AFTER
_CONNECTORS = {"in", "on", "at", "near", "off", "against", "with", "across", "over", "linked"}
_CONNECTORS |= {"tied", "to", "backed", "by", "from"}
ANCHOR_MIN_PLACE = 0.8

_TERM_RE = re.compile(r"[^\W_]+(?:[-'][^\W_]+)*")
# Runtime tokens are runs of letters, digits, "'" and "-" (stray edge "'"/"-" trimmed
# afterwards). ASCII text, nearly all feed text, skips the regex: a byte translate plus
# split is about three times faster than findall.
_TOKEN_RE = re.compile(r"[^\W_][\w'-]*")
_ASCII_WORD = frozenset(b"abcdefghijklmnopqrstuvwxyz0123456789'-")
_ASCII_TABLE = bytes(c if c in _ASCII_WORD else 32 for c in range(256))
_US_RE = re.compile(r"\bU\.S\.(?:A\.)?|\bUSA?\b")
_NORMALIZE = str.maketrans({"’": "'", "‘": "'", "‐": "-", "‑": "-", "–": "-", "—": " "})
_VOWELS = frozenset("aeiou")


_KIND_NONE, _KIND_STRONG, _KIND_WEAK, _KIND_NEGATIVE = range(4)
_TOPIC_ORDER = {topic: i for i, topic in enumerate(TOPICS)}


class _Entry:
    """One lexicon term: its topic contribution and/or the region it points to."""

    __slots__ = ("term", "topic", "weight", "region", "region_weight")

    def __init__(self, term: str) -> None:
        self.term = term
        self.topic: str | None = None
        self.weight = 0.0
        self.region: str | None = None
        self.region_weight = 0.0


class _Hit:
    """One spelling of an entry, with its reason text precomputed per field."""

    __slots__ = ("entry", "label", "kind", "values", "reasons", "anchor")

    def __init__(self, entry: _Entry, form: tuple[str, ...]) -> None:
        self.entry = entry
        self.label = f"'{' '.join(form)}'" if len(form) > 1 else form[0]
        topic = entry.topic
        if topic is None or topic == _NEUTRAL:
            self.kind = _KIND_NONE
        elif topic == _NEGATIVE:
            self.kind = _KIND_NEGATIVE
        else:
            self.kind = _KIND_STRONG if entry.weight >= STRONG_WEIGHT else _KIND_WEAK
        self.values = (round(entry.weight * TITLE_FACTOR, 2), round(entry.weight, 2))
        self.reasons = tuple(f"{_fmt(v)} {self.label} [{topic}]" for v in self.values)
        self.anchor = self.kind == _KIND_WEAK and " ".join(form) in _ANCHORABLE


# first token -> (one-word hit, {second token: ((remaining tokens, hit), ...) longest first})
_Index = dict[str, tuple[_Hit | None, dict[str, tuple[tuple[list[str], _Hit], ...]]]]


def _fmt(value: float) -> str:
    text = f"{value:+.2f}"
    return text[:-1] if text.endswith("0") else text


def _inflect(word: str) -> set[str]:
    forms = {word}
    if len(word) < 3 or not word[-1].isalpha():
        return forms
    if word[-1] == "y" and word[-2] not in _VOWELS:
        forms |= {word[:-1] + "ies", word[:-1] + "ied", word + "ing"}
        return forms
    forms.add(word + ("es" if word.endswith(("s", "x", "z", "ch", "sh")) else "s"))
    if word[-1] == "e":
        forms |= {word + "d", word[:-1] + "ing"}
    else:
        forms |= {word + "ed", word + "ing"}
        if (
            len(word) <= 4
            and word[-1] not in _VOWELS
            and word[-1] not in "wxy"
            and word[-2] in _VOWELS
            and word[-3] not in _VOWELS
        ):
            forms |= {word + word[-1] + "ed", word + word[-1] + "ing"}
    return forms


def _forms(term: str, inflect: str) -> list[tuple[str, ...]]:
    """Token tuples a term matches: hyphen and spaced spellings, inflected last word."""
    spellings = {tuple(_TERM_RE.findall(term))}
    if "-" in term:
        spellings.add(tuple(_TERM_RE.findall(term.replace("-", " "))))
    out: list[tuple[str, ...]] = []
    for toks in spellings:
        if not toks:
            continue
        if inflect == "full":
            lasts = _inflect(toks[-1])
        elif inflect == "plural" and not toks[-1].endswith("s"):
            lasts = {toks[-1], toks[-1] + "s"}
        else:
            lasts = {toks[-1]}
        out.extend(toks[:-1] + (last,) for last in sorted(lasts))
    return out


def _parse(block: str) -> list[tuple[float, str, bool]]:
    items: list[tuple[float, str, bool]] = []
    weight = 0.0
    for line in block.strip().splitlines():
        head, sep, rest = line.partition(":")
        if sep and head.strip().lstrip("-").replace(".", "").isdigit():
            weight = float(head)
        else:
            rest = line
        for raw in rest.split(","):
            term = raw.strip().lower()
            if term:
                items.append((weight, term.rstrip("="), term.endswith("=")))
    return items


def _build() -> _Index:
    explicit: dict[tuple[str, ...], _Entry] = {}
    generated: dict[tuple[str, ...], _Entry] = {}
    entries: dict[str, _Entry] = {}

    def add(term: str, exact: bool, inflect: str) -> _Entry:
        entry = entries.get(term)
        if entry is None:
            entry = entries[term] = _Entry(term)
        base = set(_forms(term, "none"))
        for form in _forms(term, "none" if exact else inflect):
            (explicit if form in base else generated).setdefault(form, entry)
        return entry

    for topic, block in _TOPIC_TERMS.items():
        for weight, term, exact in _parse(block):
            entry = add(term, exact, "full")
            if entry.topic is None:  # first listing wins
                entry.topic, entry.weight = topic, weight
    for region, block in _PLACE_TERMS.items():
        for weight, term, exact in _parse(block):
            entry = add(term, exact, "plural")
            if entry.region is None:
                entry.region, entry.region_weight = region, weight

    keys = generated | explicit  # a listed spelling beats another term's inflection
    singles: dict[str, _Hit] = {}
    phrases: dict[str, dict[str, list[tuple[list[str], _Hit]]]] = {}
    for form, entry in keys.items():
        hit = _Hit(entry, form)
        if len(form) == 1:
            singles[form[0]] = hit
        else:
            by_second = phrases.setdefault(form[0], {})
            by_second.setdefault(form[1], []).append((list(form[2:]), hit))
    index: _Index = {}
    for first in singles.keys() | phrases.keys():
        by_second = {
            second: tuple(sorted(cands, key=lambda c: -len(c[0])))
            for second, cands in phrases.get(first, {}).items()
        }
        index[first] = (singles.get(first), by_second)
    return index


_INDEX = _build()


def _tokens(text: str) -> list[str]:
    if not text:
        return []
    if "US" in text or "U.S" in text:
        # Upper-case "US" is the country; lower-cased it would be the pronoun.
        text = _US_RE.sub(" usa ", text)
    if text.isascii():
        low = text.lower()
        toks = low.encode("ascii").translate(_ASCII_TABLE).decode("ascii").split()
    else:
        low = text.translate(_NORMALIZE).lower()
        toks = _TOKEN_RE.findall(low)
    if "'" in low:
        toks = [t.strip("'-").removesuffix("'s") if "'" in t else t for t in toks]
    if "-" in low:
        index = _INDEX
        toks = [
            part
            for t in toks
            for part in (t.strip("-").split("-") if "-" in t and t not in index else (t,))
        ]
    return toks


def _scan(tokens: list[str]) -> list[tuple[int, int, _Hit]]:
    """Longest-match lexicon hits as (start, end, hit); phrases swallow their words."""
    index = _INDEX
    out: list[tuple[int, int, _Hit]] = []
    end = 0
    last = len(tokens) - 1
    for i in compress(count(), map(index.__contains__, tokens)):
        if i < end:
            continue
        single, by_second = index[tokens[i]]
        hit = None
        if by_second and i < last:
            for rest, candidate in by_second.get(tokens[i + 1], ()):
                j = i + 2 + len(rest)
                if not rest or tokens[i + 2 : j] == rest:
                    hit, end = candidate, j
                    break
        if hit is None:
            if single is None:
                continue
            hit, end = single, i + 1
        out.append((i, end, hit))
    return out


def _anchor(
    tokens: list[str], start: int, end: int, matches: list[tuple[int, int, _Hit]]
) -> str | None:
    """Label of "<place> <term>" or "<term> in <place>", if the weak term has one."""
    term = " ".join(tokens[start:end])
    for p_start, p_end, hit in matches:
        if hit.entry.region is None or hit.entry.region_weight < ANCHOR_MIN_PLACE:
            continue
        if p_end == start and term in _ANCHOR_BEFORE:
            return "'" + " ".join(tokens[p_start:end]) + "'"
        if (
            end < p_start <= end + 2
            and term in _ANCHOR_AFTER
            and all(t in _CONNECTORS for t in tokens[end:p_start])
        ):
            return "'" + " ".join(tokens[start:p_end]) + "'"
    return None


def _pick_region(scores: dict[str, float], first: dict[str, int]) -> str | None:
    if not scores:
        return None
    return max(scores, key=lambda r: (scores[r], -first[r]))


def score_article(title: str, description: str = "", weight: float = 1.0) -> Relevance:
    """Score how clearly an article is security news, with topics, region and reasons."""
    # (topic, value, reason, weak) for positive matches; weak ones wait for support.
    positives: list[tuple[str, float, str, bool]] = []
    penalties: list[tuple[float, str]] = []
    region_scores: dict[str, float] = {}
    region_first: dict[str, int] = {}
    strong = False

    for field, text in enumerate((title, description)):
        tokens = _tokens(text)
        matches = _scan(tokens) if tokens else ()
        if not matches:
            continue
        factor = TITLE_FACTOR if field == 0 else 1.0
        seen: set[_Entry] = set()
        for start, end, hit in matches:
            entry = hit.entry
            if entry in seen:
                continue
            seen.add(entry)
            region = entry.region
            if region is not None:
                region_scores[region] = (
                    region_scores.get(region, 0.0) + entry.region_weight * factor
                )
                if region not in region_first:
                    region_first[region] = field * 100_000 + start
            kind = hit.kind
            if kind == _KIND_NONE:
                continue
            if kind == _KIND_NEGATIVE:
                penalties.append((hit.values[field], hit.reasons[field]))
                continue
            if kind == _KIND_WEAK and hit.anchor:
                label = _anchor(tokens, start, end, matches)
                if label is not None:
                    value = round(ANCHORED_WEIGHT * factor, 2)
                    positives.append(
                        (entry.topic, value, f"{_fmt(value)} {label} [{entry.topic}]", False)
                    )
                    strong = True
                    continue
            weak = kind == _KIND_WEAK
            strong = strong or not weak
            positives.append((entry.topic, hit.values[field], hit.reasons[field], weak))

    region = _pick_region(region_scores, region_first)
    if not positives and not penalties:
        return Relevance(0.0, (), region, ())

    reasons: list[str] = []
    totals: dict[str, float] = {}
    ignored: list[str] = []
    for topic, value, reason, weak in positives:
        if weak and not strong:
            label = reason.split(" ", 1)[1]
            ignored.append(f"ignored {label}: weak term without a strong one")
            continue
        totals[topic] = totals.get(topic, 0.0) + value
        reasons.append(reason)
    for topic, total in totals.items():
        if total > TOPIC_CAP + 1e-9:
            reasons.append(f"{_fmt(TOPIC_CAP - total)} cap [{topic}]")
            totals[topic] = TOPIC_CAP
    reasons.extend(reason for _, reason in penalties)
    reasons.extend(ignored)

    raw = sum(totals.values()) + sum(value for value, _ in penalties)
    score = max(0.0, raw) * weight
    if weight != 1.0 and score > 0:
        reasons.append(f"x{weight:g} feed weight")
    topics = tuple(sorted(totals, key=lambda t: (-totals[t], _TOPIC_ORDER[t])))
    return Relevance(round(score, 3), topics, region, tuple(reasons))


def is_security(rel: Relevance, threshold: float = 1.0) -> bool:
    """Whether a scored article clears the relevance threshold."""
    return rel.score >= threshold


def detect_region(text: str, description: str = "") -> str | None:
    """The region the text is mostly about, by the places it names, or None."""
    scores: dict[str, float] = {}
    first: dict[str, int] = {}
    for field, part in enumerate((text, description)):
        factor = TITLE_FACTOR if field == 0 else 1.0
        seen: set[_Entry] = set()
        for start, _end, hit in _scan(_tokens(part)):
            entry = hit.entry
            if entry.region is None or entry in seen:
                continue
            seen.add(entry)
            scores[entry.region] = scores.get(entry.region, 0.0) + entry.region_weight * factor
            first.setdefault(entry.region, field * 100_000 + start)
    return _pick_region(scores, first)
