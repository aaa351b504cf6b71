"""Stage `embed`: embed the class names of data/classes.txt with GloVe (gensim KeyedVectors)
into data/class_embeddings.h5 (C x D, label order) with a coverage report."""
from pathlib import Path

from pipeline.embeddings import DEFAULT_SOURCE, embed_class_names, load_glove, write_class_embeddings
from pipeline.io import write_json
from stages.common import run_stage, stage_parser

CLASSES = "data/classes.txt"
EMBEDDINGS = "data/class_embeddings.h5"
REPORT = "data/embed_report.json"


def main(args, params):
    settings = params["embed"]
    class_names = [line.strip() for line in Path(CLASSES).read_text().splitlines() if line.strip()]
    embeddings = embed_class_names(class_names, load_glove(settings["glove_path"]), settings["combine"])
    write_class_embeddings(EMBEDDINGS, embeddings)
    report = embeddings.report(settings["glove_path"] or DEFAULT_SOURCE)
    write_json(REPORT, report)
    print(f"{report['num_classes']} classes x {report['dimension']} dims from {report['source']}; "
          f"{report['classes_with_unknown_words']} with unknown words")


if __name__ == "__main__":
    run_stage(stage_parser(__doc__), main)
