"""Stage `embed`: embed the class names of the class list with GloVe (gensim KeyedVectors)
into an HDF5 file (C x D, label order) with a coverage report."""
from pipeline.embeddings import (
    DEFAULT_SOURCE, embed_class_names, load_glove, read_class_list, write_class_embeddings,
)
from pipeline.io import write_json
from stages.common import add_paths, run_stage, stage_parser


def main(args, params):
    settings = params["embed"]
    class_names = read_class_list(args.classes)
    embeddings = embed_class_names(class_names, load_glove(settings["glove_path"]), settings["combine"])
    write_class_embeddings(args.output, embeddings)
    report = embeddings.report(settings["glove_path"] or DEFAULT_SOURCE)
    write_json(args.report, report)
    print(f"{report['num_classes']} classes x {report['dimension']} dims from {report['source']}; "
          f"{report['classes_with_unknown_words']} with unknown words")


def parser():
    parser = stage_parser(__doc__)
    add_paths(parser, classes="class list (manifest stage)", output="class embeddings to write (HDF5)",
              report="JSON coverage report to write")
    return parser


if __name__ == "__main__":
    run_stage(parser(), main)
