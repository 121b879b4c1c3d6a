"""Data tools on top of the Blob API: adlfs/fsspec (async SDK over aiohttp) and pandas/pyarrow.

They run against the development account, which has a hierarchical namespace: the pandas
parquet/CSV round trips go through adlfs onto HNS paths."""

import os

import pytest

adlfs = pytest.importorskip("adlfs")
pd = pytest.importorskip("pandas")
pytest.importorskip("pyarrow")


@pytest.fixture
def fs(server):
    fs = adlfs.AzureBlobFileSystem(connection_string=server.conn_str, skip_instance_cache=True)
    yield fs


def test_adlfs_write_read_ls(fs, container_name):
    base = f"{container_name}/dir"
    with fs.open(f"{base}/a.txt", "wb") as f:
        f.write(b"hello adlfs")
    data = os.urandom(5 * 1024 * 1024 + 3)  # larger than adlfs' default block size: staged blocks
    with fs.open(f"{base}/sub/big.bin", "wb") as f:
        f.write(data)
    assert fs.cat(f"{base}/a.txt") == b"hello adlfs"
    with fs.open(f"{base}/sub/big.bin", "rb") as f:
        f.seek(1024 * 1024)
        assert f.read(100) == data[1024 * 1024:1024 * 1024 + 100]
    assert fs.cat(f"{base}/sub/big.bin") == data
    listing = sorted(fs.ls(base, detail=False))
    assert listing == [f"{base}/a.txt", f"{base}/sub"]
    assert fs.info(f"{base}/a.txt")["size"] == 11
    assert fs.isdir(f"{base}/sub")
    assert sorted(fs.find(container_name)) == [f"{base}/a.txt", f"{base}/sub/big.bin"]
    fs.rm(f"{base}/a.txt")
    assert not fs.exists(f"{base}/a.txt")


def test_adlfs_copy_and_glob(fs, container_name):
    fs.pipe(f"{container_name}/x/1.csv", b"a,b\n1,2\n")
    fs.pipe(f"{container_name}/x/2.csv", b"a,b\n3,4\n")
    fs.pipe(f"{container_name}/x/notes.txt", b"n")
    assert sorted(fs.glob(f"{container_name}/x/*.csv")) == [
        f"{container_name}/x/1.csv", f"{container_name}/x/2.csv"]


def test_pandas_parquet_and_csv_round_trip(server, container_name):
    opts = {"connection_string": server.conn_str}
    df = pd.DataFrame({"id": range(1000), "name": [f"row {i}" for i in range(1000)],
                       "value": [i * 0.5 for i in range(1000)]})
    df.to_parquet(f"abfs://{container_name}/tables/t.parquet", storage_options=opts)
    back = pd.read_parquet(f"abfs://{container_name}/tables/t.parquet", storage_options=opts)
    pd.testing.assert_frame_equal(df, back)
    df.to_csv(f"abfs://{container_name}/tables/t.csv", index=False, storage_options=opts)
    back = pd.read_csv(f"abfs://{container_name}/tables/t.csv", storage_options=opts)
    pd.testing.assert_frame_equal(df, back)


def test_pyarrow_dataset_partitioned(server, container_name):
    import pyarrow as pa
    import pyarrow.dataset as ds

    fs = adlfs.AzureBlobFileSystem(connection_string=server.conn_str, skip_instance_cache=True)
    table = pa.table({"year": [2024, 2024, 2025, 2025], "v": [1, 2, 3, 4]})
    ds.write_dataset(table, f"{container_name}/ds", format="parquet", partitioning=["year"],
                     partitioning_flavor="hive", filesystem=fs)
    dataset = ds.dataset(f"{container_name}/ds", format="parquet", partitioning="hive", filesystem=fs)
    got = dataset.to_table().sort_by("v")
    assert got.column("v").to_pylist() == [1, 2, 3, 4]
    assert sorted(set(got.column("year").to_pylist())) == [2024, 2025]


def test_adlfs_on_a_hierarchical_namespace(server, fs, container_name):
    # The development account has a hierarchical namespace: directories made through DFS are
    # directories to adlfs, and adlfs' own directory markers are real directories to DFS.
    datalake = pytest.importorskip("azure.storage.filedatalake")
    import sdkutil
    dls = datalake.DataLakeServiceClient.from_connection_string(server.conn_str, **sdkutil.SDK_CLIENT_KWARGS)
    fsc = dls.get_file_system_client(container_name)
    fsc.create_directory("made/by/dfs")
    fsc.get_file_client("made/by/dfs/f.txt").upload_data(b"dfs file")
    assert fs.isdir(f"{container_name}/made/by")
    assert fs.cat(f"{container_name}/made/by/dfs/f.txt") == b"dfs file"
    assert fs.ls(f"{container_name}/made/by", detail=False) == [f"{container_name}/made/by/dfs"]
    fs.mkdir(f"{container_name}/from-adlfs/inner")
    fs.pipe(f"{container_name}/from-adlfs/inner/x.csv", b"a\n1\n")
    assert fsc.get_directory_client("from-adlfs/inner").exists()
    paths = [(p.name, p.is_directory) for p in fsc.get_paths(path="from-adlfs", recursive=True)]
    assert paths == [("from-adlfs/inner", True), ("from-adlfs/inner/x.csv", False)]
    fs.rm(f"{container_name}/from-adlfs", recursive=True)
    assert not fsc.get_directory_client("from-adlfs").exists()
