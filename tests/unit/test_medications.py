"""Medication names, as typed, resolved to every ingredient and interaction class.

The table uses the application's real drug dictionary (drug-named-entity-recognition, through
the cached SQLite index): a row passes only if the dictionary and the catalog together find
every interacting ingredient. Each expected class names the source the catalog cites for it:

- seed_001 / seed_002: the clinic pages (benzodiazepines and lamotrigine blunt the effect;
  opioids, MAOIs);
- ketalar_label: barbiturates (Ketalar prescribing information);
- beers_2023: AGS Beers Criteria 2023, Table 7, drugs with strong anticholinergic properties
  (J Am Geriatr Soc 2023;71:2052-2081), with the 2012 list's antihistamines and antispasmodics;
- glycopyrrolate_label: quaternary, peripheral-only anticholinergic;
- memantine_smpc: other NMDA antagonists (memantine SmPC 4.5: amantadine, ketamine,
  dextromethorphan);
- cns_depressant_labels: z-drugs, oxybates, orexin antagonists;
- reference_screening: stimulants and sympathomimetics.
"""

from __future__ import annotations

from typing import NamedTuple

import pytest

from ketaplan.clinical.catalog import Catalog
from ketaplan.clinical.medications import MedicationResolver, name_key

BZD = {"benzodiazepine": "seed_001"}
LAM = {"lamotrigine": "seed_001"}
OPI = {"opioid": "seed_002"}
BARB = {"barbiturate": "ketalar_label"}
SED = {"sedative_hypnotic": "cns_depressant_labels"}
ACH = {"anticholinergic": "beers_2023"}
QUAT = {"peripheral_anticholinergic": "glycopyrrolate_label"}
MAOI = {"maoi": "seed_002"}
STIM = {"stimulant": "reference_screening"}
NMDA = {"nmda_antagonist": "memantine_smpc"}
NONE: dict[str, str] = {}


class Row(NamedTuple):
    typed: str
    classes: dict[str, str]
    """Expected interaction classes, each with the source key the catalog must cite for it."""
    cautioned: bool = False
    """True when part of the entry cannot be checked (a misspelling, an unknown suffix)."""


INTERACTING = [
    # benzodiazepines and lamotrigine
    Row("Xanax", BZD),
    Row("alprazolam 0.5 mg", BZD),
    Row("Xanax XR 1mg bid", BZD),
    Row("VALIUM", BZD),
    Row("Klonopin 1mg bid", BZD),
    Row("Ativan 1 mg prn anxiety", BZD),
    Row("temazepam 15 mg qhs", BZD),
    Row("Restoril", BZD),
    Row("Halcion", BZD),
    Row("Librium", BZD),
    Row("Lamictal", LAM),
    Row("lamotrigine 200 mg daily", LAM),
    Row("Lamictal XR 300 mg", LAM),
    # opioids
    Row("OxyContin", OPI),
    Row("oxycodone 5 mg q4h prn", OPI),
    Row("Dilaudid", OPI),
    Row("tramadol 50 mg prn", OPI),
    Row("Ultram", OPI),
    Row("Suboxone 8 mg/2 mg", OPI),
    Row("buprenorphine/naloxone", OPI),
    Row("Subutex", OPI),
    Row("Butrans", OPI),
    Row("Nucynta ER", OPI),
    Row("fentanyl patch 25 mcg/h", OPI),
    Row("methadone 40 mg", OPI),
    Row("Percocet 5/325", OPI),
    Row("Norco 10/325", OPI),
    Row("Vicodin", OPI),
    Row("Tylenol #3", OPI),
    Row("Tylenol No. 3", OPI),
    Row("tylenol 3", OPI),
    Row("Tylenol #4", OPI),
    Row("Tylenol with codeine", OPI),
    Row("Tylenol w/ codeine #3", OPI),
    Row("acetaminophen with codeine", OPI),
    Row("Hycodan", OPI | ACH),
    Row("Robitussin AC", OPI),
    Row("opium tincture", OPI),
    Row("paregoric", OPI),
    Row("heroin", OPI),
    Row("diacetylmorphine", OPI),
    Row("Olinvyk", OPI),
    Row("oliceridine", OPI),
    Row("Apadaz", OPI),
    Row("benzhydrocodone", OPI),
    Row("kratom", OPI),
    Row("morphine sulfate ER 30 mg", OPI),
    Row("MS Contin", OPI),
    Row("codeine", OPI),
    # barbiturates
    Row("phenobarbital", BARB),
    Row("Seconal", BARB),
    Row("Fioricet", BARB),
    Row("Fiorinal", BARB),
    Row("butalbital/APAP/caffeine", BARB),
    Row("primidone 50 mg", BARB),
    Row("Donnatal", BARB | ACH),
    # sedative-hypnotics
    Row("Ambien 10 mg at 9 pm", SED),
    Row("zolpidem CR", SED),
    Row("Lunesta", SED),
    Row("eszopiclone", SED),
    Row("Sonata", SED),
    Row("zaleplon", SED),
    Row("zopiclone", SED),
    Row("Xyrem", SED),
    Row("sodium oxybate", SED),
    Row("Xywav", SED),
    Row("Lumryz", SED),
    Row("Belsomra", SED),
    Row("suvorexant", SED),
    Row("Soma 350 mg", SED),
    # anticholinergics (AGS Beers 2023 Table 7 and earlier lists)
    Row("Benadryl", ACH),
    Row("diphenhydramine 25 mg at night", ACH),
    Row("Tylenol PM", ACH),
    Row("Tylenol P.M.", ACH),
    Row("Advil PM", ACH),
    Row("Aleve PM", ACH),
    Row("Excedrin PM", ACH),
    Row("ZzzQuil", ACH),
    Row("Unisom", ACH),
    Row("doxylamine", ACH),
    Row("Cogentin", ACH),
    Row("Artane", ACH),
    Row("Transderm Scop", ACH),
    Row("scopolamine patch", ACH),
    Row("hydroxyzine", ACH),
    Row("Vistaril", ACH),
    Row("Phenergan", ACH),
    Row("Compazine", ACH),
    Row("meclizine", ACH),
    Row("Antivert", ACH),
    Row("Dramamine", ACH),
    Row("Chlor-Trimeton", ACH),
    Row("Tavist", ACH),
    Row("Periactin", ACH),
    Row("Dimetapp", ACH | STIM),
    Row("Elavil", ACH),
    Row("amitriptyline 25 mg qhs", ACH),
    Row("Pamelor", ACH),
    Row("nortriptyline", ACH),
    Row("Tofranil", ACH),
    Row("Norpramin", ACH),
    Row("Anafranil", ACH),
    Row("Sinequan", ACH),
    Row("Surmontil", ACH),
    Row("Vivactil", ACH),
    Row("Paxil", ACH),
    Row("paroxetine CR 25 mg", ACH),
    Row("Flexeril", ACH),
    Row("cyclobenzaprine 10 mg tid prn", ACH),
    Row("Norflex", ACH),
    Row("Zyprexa", ACH),
    Row("olanzapine", ACH),
    Row("Clozaril", ACH),
    Row("Thorazine", ACH),
    Row("perphenazine", ACH),
    Row("Loxitane", ACH),
    Row("Mellaril", ACH),
    Row("Stelazine", ACH),
    Row("Ditropan XL", ACH),
    Row("oxybutynin", ACH),
    Row("Detrol LA", ACH),
    Row("Vesicare", ACH),
    Row("Toviaz", ACH),
    Row("Enablex", ACH),
    Row("Sanctura", ACH),
    Row("Urispas", ACH),
    Row("Bentyl", ACH),
    Row("dicyclomine", ACH),
    Row("Levsin", ACH),
    Row("hyoscyamine", ACH),
    Row("Librax", ACH | BZD),
    Row("Lomotil", ACH),
    Row("atropine", ACH),
    Row("Robinul", QUAT),
    Row("glycopyrrolate 1 mg", QUAT),
    # MAOIs
    Row("Nardil", MAOI),
    Row("Parnate", MAOI),
    Row("Marplan", MAOI),
    Row("Emsam", MAOI),
    Row("Azilect", MAOI),
    Row("selegiline", MAOI),
    # stimulants and sympathomimetics
    Row("Adderall", STIM),
    Row("Adderall XR 20 mg", STIM),
    Row("Vyvanse", STIM),
    Row("Ritalin", STIM),
    Row("Concerta", STIM),
    Row("Focalin XR", STIM),
    Row("Provigil", STIM),
    Row("Sudafed", STIM),
    Row("Sudafed PE", STIM),
    Row("Mucinex D", STIM),
    Row("Claritin-D", STIM),
    Row("Claritin D 24 hour", STIM),
    Row("Zyrtec-D", STIM),
    Row("Allegra-D", STIM),
    Row("phentermine", STIM),
    Row("midodrine 10 mg tid", STIM),
    Row("atomoxetine", STIM),
    Row("Strattera", STIM),
    Row("Qelbree", STIM),
    Row("viloxazine", STIM),
    Row("Northera", STIM),
    Row("droxidopa", STIM),
    # other NMDA antagonists
    Row("Spravato", NMDA),
    Row("esketamine nasal spray", NMDA),
    Row("ketamine troches", NMDA),
    Row("ketamine 50 mg sublingual", NMDA),
    Row("dextromethorphan", NMDA),
    Row("Delsym", NMDA),
    Row("Mucinex DM", NMDA),
    Row("Robitussin DM", NMDA),
    Row("Nuedexta", NMDA),
    Row("Auvelity", NMDA),
    Row("Namenda", NMDA),
    Row("memantine 10 mg bid", NMDA),
    Row("Namzaric", NMDA),
    Row("amantadine", NMDA),
    Row("NyQuil", NMDA | ACH),
    Row("DayQuil", NMDA | STIM),
    Row("Bromfed DM", NMDA | ACH | STIM),
    Row("Promethazine DM", NMDA | ACH),
    # two medications in one entry
    Row("Xanax, Norco", BZD | OPI),
    Row("sertraline and Percocet", OPI),
    Row("Lexapro + Klonopin", BZD),
    Row("alprazolam/oxycodone", BZD | OPI),
    Row("lisinopril; tramadol", OPI),
    Row("metformin\nAdderall", STIM),
    Row("Zoloft 50 mg daily & Benadryl 25 mg at bedtime", ACH),
    Row("Seroquel or Ambien", SED),
]

NOT_INTERACTING = [
    Row(name, NONE)
    for name in [
        "sertraline",
        "Zoloft 100 mg daily",
        "Lexapro",
        "escitalopram 10 mg",
        "Prozac",
        "Cymbalta",
        "Effexor XR 75 mg",
        "Wellbutrin XL 300",
        "lithium",
        "Seroquel",
        "Abilify",
        "buspirone 15 mg bid",
        "trazodone 50 mg qhs",
        "mirtazapine",
        "metformin 500mg BID",
        "Glucophage",
        "lisinopril 10 mg",
        "losartan",
        "Norvasc",
        "Toprol XL",
        "levothyroxine sodium 50 mcg",
        "Synthroid",
        "atorvastatin 40 mg",
        "Lipitor",
        "ibuprofen 400 mg prn",
        "Advil",
        "acetaminophen 500 mg",
        "Tylenol Extra Strength",
        "Tylenol 325 mg",
        "omeprazole 20 mg",
        "Prilosec",
        "Nexium",
        "Pepcid",
        "aspirin 81 mg",
        "Eliquis",
        "Plavix",
        "Lasix",
        "HCTZ",
        "prednisone",
        "Flonase",
        "Singulair",
        "albuterol inhaler",
        "Claritin",
        "Zyrtec",
        "Allegra",
        "Neurontin",
        "gabapentin 300 mg tid",
        "Lyrica",
        "Topamax",
        "Depakote",
        "Keppra",
        "Imitrex",
        "Zofran",
        "propranolol",
        "clonidine",
        "Flomax",
        "sertraline 50 mg daily with food",
        "Mucinex",
    ]
]

MISSPELLED_OR_PARTLY_KNOWN = [
    Row("alprazolom", NONE, cautioned=True),
    Row("percoset", NONE, cautioned=True),
    Row("Seroquil", NONE, cautioned=True),
    Row("Zyxwvutab 10 mg", NONE, cautioned=True),
    Row("sertraline and percoset", NONE, cautioned=True),
    Row("ibuprofen PM", NONE, cautioned=True),
    Row("Excedrin Plus", NONE, cautioned=True),
    Row("Mucinex Fast-Max", NONE, cautioned=True),
    Row("Tylenol Cold and Flu Severe", NMDA | STIM, cautioned=True),
    Row("Xanax HC", BZD, cautioned=True),
    Row("Lexapro, Klonopine", NONE, cautioned=True),
    Row("Tylenol 2 tabs prn PM", NONE, cautioned=True),
    Row("Tylenol prn #3", NONE, cautioned=True),
]

TABLE = INTERACTING + NOT_INTERACTING + MISSPELLED_OR_PARTLY_KNOWN


def test_the_table_is_large_enough() -> None:
    assert len(TABLE) >= 150
    assert len(NOT_INTERACTING) >= 30


@pytest.mark.parametrize("row", TABLE, ids=[r.typed for r in TABLE])
def test_each_medication_resolves_to_its_classes_or_is_cautioned(
    resolver: MedicationResolver, catalog: Catalog, row: Row
) -> None:
    med = resolver.resolve(row.typed)
    assert set(med.classes) == set(row.classes), (med.ingredients, med.unchecked)
    for cls, source in row.classes.items():
        assert catalog.interaction_classes[cls].source == source
        assert source in catalog.sources
    cautioned = med.resolved_by == "unresolved" or bool(med.unchecked)
    assert cautioned == row.cautioned, (med.resolved_by, med.unchecked)


def test_most_names_are_resolved_by_the_dictionary_not_the_catalog_table(
    resolver: MedicationResolver,
) -> None:
    by = [resolver.resolve(row.typed).resolved_by for row in INTERACTING + NOT_INTERACTING]
    assert by.count("dictionary") >= 0.75 * len(by)
    assert "unresolved" not in by


@pytest.mark.parametrize(
    ("typed", "ingredients"),
    [
        ("Suboxone 8 mg/2 mg", {"buprenorphine", "naloxone"}),
        ("Tylenol #3", {"acetaminophen", "codeine"}),
        ("Mucinex D", {"guaifenesin", "pseudoephedrine"}),
        ("Xanax, Norco", {"alprazolam", "hydrocodone", "acetaminophen"}),
        ("sertraline and Percocet", {"sertraline", "oxycodone", "acetaminophen"}),
        ("Namzaric", {"memantine", "donepezil"}),
    ],
)
def test_a_combination_lists_every_ingredient(
    resolver: MedicationResolver, typed: str, ingredients: set[str]
) -> None:
    assert ingredients <= set(resolver.resolve(typed).ingredients)


def test_an_unknown_suffix_is_named_as_unchecked_with_the_ingredients_found(
    resolver: MedicationResolver,
) -> None:
    med = resolver.resolve("ibuprofen PM 2 tabs at night")
    assert med.ingredients == ("ibuprofen",)
    assert med.unchecked == ("pm",)


def test_an_unknown_medication_is_unresolved_with_spelling_suggestions(
    resolver: MedicationResolver,
) -> None:
    med = resolver.resolve("alprazolom")
    assert med.resolved_by == "unresolved"
    assert "alprazolam" in med.suggestions
    assert "percocet" in resolver.resolve("sertraline and percoset").suggestions


@pytest.mark.parametrize(
    ("typed", "key"),
    [
        ("Tylenol w/ Codeine No. 3", "tylenol with codeine #3"),
        ("Tylenol #3", "tylenol #3"),
        ("Allegra-D", "allegra d"),
        ("Tylenol P.M.", "tylenol pm"),
        ("buprenorphine/naloxone", "buprenorphine / naloxone"),
        ("  LAMICTAL 100MG  ", "lamictal 100 mg"),
    ],
)
def test_names_are_compared_with_suffixes_and_numbers_kept(typed: str, key: str) -> None:
    assert name_key(typed) == key


def test_every_catalog_ingredient_resolves_to_its_own_class(
    resolver: MedicationResolver, catalog: Catalog
) -> None:
    """The dictionary may spell a generic otherwise ("n-methylscopolamine"); the catalog's
    own name still counts."""
    missed = [
        (ingredient, key)
        for key, entry in catalog.interaction_classes.items()
        for ingredient in entry.ingredients
        if key not in resolver.resolve(ingredient).classes
    ]
    assert missed == []
