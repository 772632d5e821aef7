"""PMS exchange: the CSV import (idempotent, bad rows reported) and the customer export."""

from __future__ import annotations

from decimal import Decimal
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from interactions.models import Customer, PhoneNumber
from interactions.pms import pms_export_customer
from interactions.services import phone_number_add, phone_number_set_primary
from tests.factories import FacilityFactory

HEADER = "facility,pms_id,first_name,last_name,unit,balance_due,phone,phone_home,phone_work\n"


@pytest.fixture
def write_csv(tmp_path):
    def write(*rows: str, header: str = HEADER, name: str = "customers.csv"):
        path = tmp_path / name
        path.write_text(header + "".join(f"{row}\n" for row in rows), encoding="utf-8")
        return path

    return write


def run_import(path, organization="lakeside") -> tuple[str, str]:
    out, err = StringIO(), StringIO()
    call_command("import_pms_customers", str(path), organization=organization, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def numbers(customer) -> dict[str, tuple[str, bool, str]]:
    return {p.e164: (p.label, p.is_primary, p.source) for p in customer.phone_numbers.all()}


GOOD = [
    "Lakeside Austin,C-100,Maria,Garcia,A101,45.00,(512) 555-0142,512-555-0143,",
    "lakeside austin,C-101,James,Smith,B202,0,+15125550150,,",
]


def test_import_creates_customers_with_their_pms_numbers(facility, write_csv):
    out, err = run_import(write_csv(*GOOD))

    assert out.strip() == "2 created, 0 updated, 0 unchanged, 0 rejected."
    assert err == ""
    maria = Customer.objects.get(pms_id="C-100")
    assert (maria.facility, maria.organization, maria.unit, maria.balance_due) == (
        facility,
        facility.organization,
        "A101",
        Decimal("45.00"),
    )
    assert numbers(maria) == {"+15125550142": ("mobile", True, "pms"), "+15125550143": ("home", False, "pms")}


def test_running_the_same_import_twice_changes_nothing(facility, write_csv):
    path = write_csv(*GOOD)
    run_import(path)
    before = list(PhoneNumber.objects.order_by("id").values())

    out, _ = run_import(path)

    assert out.strip() == "0 created, 0 updated, 2 unchanged, 0 rejected."
    assert Customer.objects.count() == 2
    assert list(PhoneNumber.objects.order_by("id").values()) == before


def test_changed_rows_are_updated(facility, write_csv):
    run_import(write_csv(*GOOD))

    out, _ = run_import(write_csv(GOOD[0].replace("45.00", "0.00"), GOOD[1]))

    assert out.strip() == "0 created, 1 updated, 1 unchanged, 0 rejected."
    assert Customer.objects.get(pms_id="C-100").balance_due == Decimal("0.00")


def test_bad_rows_are_reported_with_their_line_and_the_good_rows_import(facility, write_csv):
    path = write_csv(
        GOOD[0],
        "Nowhere Storage,C-200,Ann,Lee,,0,(512) 555-0160,,",
        "Lakeside Austin,C-201,Bob,Ray,,0,555-12,,",
        "Lakeside Austin,C-202,Cy,Day,,twelve,(512) 555-0161,,",
        "Lakeside Austin,,Di,Fox,,0,(512) 555-0162,,",
        "Lakeside Austin,C-204,Ed,Gee,,123456789012.00,,,",
        "Lakeside Austin,C-205," + "F" * 101 + ",Hay,,0,,,",
        GOOD[1],
    )

    out, err = run_import(path)

    assert out.strip() == "2 created, 0 updated, 0 unchanged, 6 rejected."
    lines = err.strip().splitlines()
    assert lines[0] == "line 3: facility “Nowhere Storage” is not one of this organization’s"
    assert lines[1].startswith("line 4: phone: “555-12” can’t be texted")
    assert lines[2] == "line 5: balance_due “twelve” is not a number"
    assert lines[3] == "line 6: pms_id is empty"
    assert lines[4].startswith("line 7: balance_due")
    assert lines[5].startswith("line 8: first_name")
    assert sorted(Customer.objects.values_list("pms_id", flat=True)) == ["C-100", "C-101"]


def test_a_file_without_the_required_columns_is_rejected_whole(facility, write_csv):
    out, err = run_import(write_csv("Lakeside Austin,Maria", header="facility,first_name\n"))

    assert "line 1: missing column(s): pms_id" in err
    assert out.strip() == "0 created, 0 updated, 0 unchanged, 1 rejected."
    assert not Customer.objects.exists()


def test_the_import_names_the_organization_it_needs(org, other_org, facility, write_csv):
    path = write_csv(*GOOD)

    with pytest.raises(CommandError, match="--organization"):
        call_command("import_pms_customers", str(path), stdout=StringIO())
    with pytest.raises(CommandError, match="does not exist"):
        run_import(path.with_name("missing.csv"))


def test_a_file_that_is_not_utf8_is_refused_clearly(facility, tmp_path):
    path = tmp_path / "latin1.csv"
    path.write_bytes((HEADER + "Lakeside Austin,C-1,José,Núñez,,0,,,\n").encode("latin-1"))

    with pytest.raises(CommandError, match="UTF-8"):
        run_import(path)
    assert not Customer.objects.exists()


def test_rows_for_another_organizations_facility_are_rejected(facility, other_org, write_csv):
    FacilityFactory(organization=other_org, name="Rival Dallas")

    _, err = run_import(write_csv("Rival Dallas,C-9,Eve,Spy,,0,(512) 555-0170,,"))

    assert "line 2: facility “Rival Dallas” is not one of this organization’s" in err
    assert not Customer.objects.exists()


def test_local_numbers_survive_a_reimport(facility, write_csv):
    path = write_csv(*GOOD)
    run_import(path)
    maria = Customer.objects.get(pms_id="C-100")
    local = phone_number_add(owner=maria, number="(512) 555-0199", label="work")
    phone_number_set_primary(phone_number=local)

    out, _ = run_import(path)

    assert out.strip() == "0 created, 0 updated, 2 unchanged, 0 rejected."
    assert numbers(maria) == {
        "+15125550142": ("mobile", False, "pms"),
        "+15125550143": ("home", False, "pms"),
        "+15125550199": ("work", True, "local"),
    }


def test_a_pms_number_removed_from_the_file_is_removed_and_the_primary_moves(facility, write_csv):
    run_import(write_csv(*GOOD))
    maria = Customer.objects.get(pms_id="C-100")
    phone_number_add(owner=maria, number="(512) 555-0199", label="work")

    out, _ = run_import(write_csv("Lakeside Austin,C-100,Maria,Garcia,A101,45.00,,512-555-0143,", GOOD[1]))

    assert out.strip() == "0 created, 1 updated, 1 unchanged, 0 rejected."
    assert numbers(maria) == {"+15125550143": ("home", True, "pms"), "+15125550199": ("work", False, "local")}


def test_the_export_never_contains_a_local_number(facility, write_csv):
    run_import(write_csv(*GOOD))
    maria = Customer.objects.get(pms_id="C-100")
    local = phone_number_add(owner=maria, number="(512) 555-0199", label="work")
    phone_number_set_primary(phone_number=local)

    exported = pms_export_customer(maria)

    assert exported["pms_id"] == "C-100"
    assert exported["facility"] == "Lakeside Austin"
    assert exported["balance_due"] == "45.00"
    assert [p["number"] for p in exported["phone_numbers"]] == ["+15125550142", "+15125550143"]
    assert "+15125550199" not in str(exported)
