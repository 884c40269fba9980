#!/usr/bin/env python3
"""Writes the seed inputs of the fuzz targets into fuzz/seeds/<target>/ (not committed): the
fixtures (demo exports and configs, the Dataverse preset), and the filters, $batch bodies and
answers that appear in the tests. benches/fuzz.sh --cmin merges them with what the fuzzer found
and minimises the result into fuzz/corpus/<target>/, the committed corpus.

Usage: python3 fuzz/seeds.py   (from the repository root)
"""

import hashlib
import pathlib
import re
import shutil

ROOT = pathlib.Path(__file__).resolve().parent.parent
OUT = ROOT / "fuzz" / "seeds"


def put(target, data):
    if isinstance(data, str):
        data = data.encode()
    folder = OUT / target
    folder.mkdir(parents=True, exist_ok=True)
    (folder / hashlib.sha1(data).hexdigest()).write_bytes(data)


def rust_strings(path):
    """Plain and raw string literals of a Rust file, unescaped (roughly)."""
    text = path.read_text(encoding="utf-8")
    out = [m.group(1) for m in re.finditer(r'r#"(.*?)"#', text, re.S)]
    for m in re.finditer(r'(?<![r#\w])"((?:[^"\\]|\\.)*)"', text, re.S):
        s = m.group(1)
        s = re.sub(r"\\\n\s*", "", s)  # line continuations
        s = (s.replace('\\"', '"').replace("\\n", "\n").replace("\\r", "\r")
             .replace("\\t", "\t").replace("\\\\", "\\"))
        out.append(s)
    return out


def head(path, lines):
    return b"".join(path.read_bytes().splitlines(keepends=True)[:lines])


# csv_tokenizer: a mode byte (bits 0-2 delimiter: 0 detect, 1 ',', 2 ';', 3 tab, 4 '|', 5 '"',
# 6 LF, 7 the first byte; bit 3 windows-1252; bit 4 header row), then the file.
csv_files = [ROOT / "fixtures/demo" / n for n in
             ("customers.csv", "accounts.csv", "traps.csv", "couplings.csv")]
csv_files += sorted((ROOT / "fixtures/demo/expected").rglob("*.csv"))
for path in csv_files:
    for mode in (0x10, 0x00, 0x18, 0x11):
        put("csv_tokenizer", bytes([mode]) + head(path, 25))
odd = [
    b"a,b\n1,2\n", b"a,b\r\n1,2\r\n", b"a,b\r1,2\r", b"a,b", b"a,b\n\n\n1,2", b"\n\r\n a,b\n",
    b'a,"b,c"\n"x\ny",""\n', b'"say ""hi""",x\n', b'ab"c,d\n', b'"ab"c,d\n',
    b'"ab""c"d"e,f\n', b'a,"unclosed\nb,c\n', b'a,"unclosed', b'a,"closed at the end"',
    b"a,", b",\n,\n", b'""\n', b"\xEF\xBB\xBF\xEF\xBB\xBFid\n1\n", b"\xEF\xBB\xBFid\n1\n",
    b"a,b\n1\n", b"a,b\n1,2,3\n", b"a,b\n1,caf\xe9\n", b"id;name\n1;\"M\xc3\xbcller; Hans\"\n",
    b"No.\tName\nC1\tAdatum\n", b"a|b\n1|2\n", b"a,a\n1,2\n", b"a,,\n1,2,3\n", b"a\x00b,c\n1,2\n",
    b"a,b\n1,\xEF\xBB\xBF2\n", b"\xFF\xFEa\x00,\x00b\x00\n\x00",
]
for text in odd:
    for mode in (0x10, 0x00, 0x18, 0x02):
        put("csv_tokenizer", bytes([mode]) + text)
put("csv_tokenizer", b'\x15a"b"c\n"x""y"\n')
put("csv_tokenizer", b"\x16a\nb\rc\r\nd\n")

# config: the shipped configs, the preset, and every config text in the tests.
for path in [ROOT / "fixtures/demo/coupling.toml", ROOT / "fixtures/dataverse/coupling.toml",
             *sorted((ROOT / "cli/src/presets").glob("*.toml"))]:
    put("config", path.read_bytes())
for path in sorted((ROOT / "tests").glob("*.rs")) + sorted((ROOT / "cli/src").glob("*.rs")):
    for s in rust_strings(path):
        if "[[mappings]]" in s or "[[variants]]" in s or "[dataverse]" in s:
            put("config", s.replace("{{", "{").replace("}}", "}"))

# odata_filter: $filter texts from the emulator's tests, and query strings.
filters = set()
for path in sorted((ROOT / "fixtures/dataverse-emulator/tests").glob("*.rs")):
    text = path.read_text(encoding="utf-8")
    for m in re.finditer(r'names\(\s*"((?:[^"\\]|\\.)*)"', text, re.S):
        filters.add(m.group(1).replace('\\"', '"'))
    for m in re.finditer(r"\$filter=([^\"&{]+)", text):
        filters.add("$" + "filter=" + m.group(1))
for path in [ROOT / "fixtures/dataverse-emulator/tests/filter.rs",
             ROOT / "fixtures/dataverse-emulator/tests/read.rs"]:
    for s in rust_strings(path):
        if re.search(r"\b(eq|ne|gt|ge|lt|le)\b|contains\(|startswith\(|Microsoft\.Dynamics", s):
            filters.add(s)
filters.add("$filter=Microsoft.Dynamics.CRM.In(PropertyName%3D%40p1%2CPropertyValues%3D%40p2)"
            "&@p1=%27name%27&@p2=%5B%22O%27Brien%20Ltd%22%2C%22zeta%22%5D")
filters.add("$filter=address1_city%20eq%20%40missing")
filters.add("Microsoft.Dynamics.CRM.Between(PropertyName='numberofemployees',PropertyValues=[\"5\",\"250\"])")
filters.add("createdon ge 2023-01-01T00:00:00Z and latitude gt 1.5e1 and exchangerate le 2m")
filters.add("externalid eq 0f8fad5b-d9cb-469f-a165-70867728950e or versionnumber ne 10L")
filters.add("not (creditonhold) and endswith(description,'two')")
for f in filters:
    put("odata_filter", f)

# batch_request: Content-Type line, Prefer line, body. The emulator tests' bodies, LF and CRLF.
emulator_batch = (ROOT / "fixtures/dataverse-emulator/tests/batch.rs").read_text(encoding="utf-8")
bodies = [s for s in rust_strings(ROOT / "fixtures/dataverse-emulator/tests/batch.rs")
          if s.startswith("--batch")]
bodies = [b.replace("{{", "{").replace("}}", "}").replace("{second_name}", "name") for b in bodies]
bodies.append("""--batch_B
Content-Type: application/http
Content-Transfer-Encoding: binary

PATCH /api/data/v9.2/accounts(aaaaaaaa-0000-0000-0000-000000000001) HTTP/1.1
Content-Type: application/json
If-Match: *

{"name":"x","revenue":12.5}
--batch_B
Content-Type: application/http
Content-Transfer-Encoding: binary

PATCH /api/data/v9.2/accounts(cccccccc-0000-0000-0000-000000000001) HTTP/1.1
Content-Type: application/json
If-None-Match: *

{"name":"new"}
--batch_B
Content-Type: application/http

GET accounts(accountnumber='A1')?$select=name,revenue&$filter=statecode%20eq%200 HTTP/1.1


--batch_B
Content-Type: application/http

DELETE accounts(aaaaaaaa-0000-0000-0000-000000000006) HTTP/1.1


--batch_B--
""")
for body in bodies:
    boundary = re.match(r"--(\S+)", body).group(1)
    for prefer in ("", "odata.continue-on-error"):
        for text in (body, body.replace("\n", "\r\n")):
            put("batch_request", f'multipart/mixed; boundary="{boundary}"\n{prefer}\n{text}')
            put("batch_request", f"multipart/mixed;boundary={boundary}\n{prefer}\n{text}")

# batch_response: a status line, headers, a blank line, the answer body.
answers = [s for s in rust_strings(ROOT / "adapters/dataverse/src/write.rs")
           if s.startswith("--batchresponse")]
answers.append("""--batchresponse_9
Content-Type: application/http
Content-Transfer-Encoding: binary

HTTP/1.1 204 No Content
OData-Version: 4.0


--batchresponse_9
Content-Type: application/http
Content-Transfer-Encoding: binary

HTTP/1.1 404 Not Found
Content-Type: application/json; odata.metadata=minimal

{"error":{"code":"0x80040217","message":"account With Id = x Does Not Exist"}}
--batchresponse_9
Content-Type: application/http

HTTP/1.1 503 Service Unavailable
Retry-After: 0.0005

--batchresponse_9--
""")
for answer in answers:
    boundary = re.match(r"--(\S+)", answer).group(1)
    for text in (answer, answer.replace("\n", "\r\n")):
        put("batch_response", f"200\nContent-Type: multipart/mixed; boundary={boundary}\n\n{text}")
        put("batch_response", f'Content-Type: multipart/mixed; boundary="{boundary}"\n\n{text}')
put("batch_response", "429\nRetry-After: 2\nContent-Type: application/json\n\n"
    '{"error":{"code":"0x80072322","message":"Number of requests exceeded the limit."}}')
put("batch_response", "401\n\n")
put("batch_response", '400\nContent-Type: application/json\n\n{"error":{"code":"0x0","message":"bad"}}')

for target in sorted(OUT.iterdir()):
    print(f"{target.name}: {len(list(target.iterdir()))} seeds")
