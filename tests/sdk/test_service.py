"""Service level: list containers, service properties, account information."""

import pytest
from azure.storage.blob import CorsRule, RetentionPolicy

import sdkutil


@pytest.fixture
def three_containers(service):
    prefix = sdkutil.unique_name("lc")[:20] + "-"
    names = [f"{prefix}{i}" for i in ("a", "b", "c")]
    for i, name in enumerate(names):
        service.create_container(name, metadata={"idx": str(i), "mixed": "case"})
    yield prefix, names
    for name in names:
        try:
            service.delete_container(name)
        except Exception:  # noqa: BLE001
            pass


def test_list_containers_prefix(service, three_containers):
    prefix, names = three_containers
    listed = [c.name for c in service.list_containers(name_starts_with=prefix)]
    assert listed == names  # lexicographic order, nothing outside the prefix


def test_list_containers_pagination(service, three_containers):
    prefix, names = three_containers
    pager = service.list_containers(name_starts_with=prefix, results_per_page=2).by_page()
    first = [c.name for c in next(pager)]
    assert first == names[:2]
    assert pager.continuation_token, "a full page must come with a continuation marker"
    second = [c.name for c in next(pager)]
    assert second == names[2:]
    assert not pager.continuation_token
    with pytest.raises(StopIteration):
        next(pager)

    # Resuming from a token gives the rest.
    pager = service.list_containers(name_starts_with=prefix, results_per_page=1).by_page()
    next(pager)
    token = pager.continuation_token
    rest = service.list_containers(name_starts_with=prefix, results_per_page=5).by_page(token)
    assert [c.name for c in next(rest)] == names[1:]


def test_list_containers_include_metadata(service, three_containers):
    prefix, names = three_containers
    with_md = list(service.list_containers(name_starts_with=prefix, include_metadata=True))
    assert [c.metadata for c in with_md] == [{"idx": str(i), "mixed": "case"} for i in range(3)]
    without = list(service.list_containers(name_starts_with=prefix))
    assert all(not c.metadata for c in without)
    for c in with_md:
        assert c.etag and c.last_modified is not None


def test_list_containers_empty_prefix_result(service):
    assert list(service.list_containers(name_starts_with="no-such-prefix-zzz")) == []


@pytest.fixture
def restore_service_properties(service):
    before = service.get_service_properties()
    yield
    service.set_service_properties(cors=before["cors"] or [],
                                   delete_retention_policy=before["delete_retention_policy"])


def test_service_properties_cors_round_trip(service, restore_service_properties):
    rules = [
        CorsRule(["http://a.example", "http://b.example"], ["GET", "PUT"],
                 allowed_headers=["x-ms-meta-*", "content-type"], exposed_headers=["x-ms-meta-*"],
                 max_age_in_seconds=300),
        CorsRule(["*"], ["HEAD"], allowed_headers=["*"], exposed_headers=["*"], max_age_in_seconds=0),
    ]
    service.set_service_properties(cors=rules)
    got = service.get_service_properties()["cors"]
    assert len(got) == 2
    for want, have in zip(rules, got, strict=True):
        assert have.allowed_origins == want.allowed_origins
        assert have.allowed_methods == want.allowed_methods
        assert have.allowed_headers == want.allowed_headers
        assert have.exposed_headers == want.exposed_headers
        assert have.max_age_in_seconds == want.max_age_in_seconds

    # An empty <Cors/> clears the rules.
    service.set_service_properties(cors=[])
    assert not service.get_service_properties()["cors"]


def test_service_properties_delete_retention_round_trip(service, restore_service_properties):
    service.set_service_properties(delete_retention_policy=RetentionPolicy(enabled=True, days=5))
    props = service.get_service_properties()
    assert props["delete_retention_policy"].enabled is True
    assert props["delete_retention_policy"].days == 5

    # Elements left out of a Set Service Properties body keep their value.
    service.set_service_properties(cors=[CorsRule(["http://x.example"], ["GET"])])
    props = service.get_service_properties()
    assert props["delete_retention_policy"].enabled is True
    assert props["delete_retention_policy"].days == 5
    assert len(props["cors"]) == 1

    service.set_service_properties(delete_retention_policy=RetentionPolicy(enabled=False))
    assert service.get_service_properties()["delete_retention_policy"].enabled is False


def test_get_account_information(service, container):
    info = service.get_account_information()
    assert info.get("sku_name"), info
    assert info.get("account_kind"), info
    assert "is_hns_enabled" in info, info
    # Also answered on container and blob URLs.
    assert container.get_account_information().get("sku_name") == info["sku_name"]
    blob = container.get_blob_client("x")
    assert blob.get_account_information().get("account_kind") == info["account_kind"]
