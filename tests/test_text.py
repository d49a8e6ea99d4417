"""course_lib.text: mappings printed as sentences."""

from course_lib.text import as_text


def test_a_mapping_reads_as_a_sentence_not_a_dict():
    assert as_text({"train": 3000, "val": 500}) == "train 3,000, val 500"
    assert as_text({"chr22": 300000}, "nt") == "chr22 300,000 nt"
    assert as_text({"a": 0.123456, "b": True, "c": {"x": 1}}) == "a 0.123, b yes, c (x 1)"
    assert as_text({}) == "none"
    assert "{" not in as_text({"utr_testsets": "real", "sizes": {"Random7600": 7600}})
