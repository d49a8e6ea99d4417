"""The large pretrained weights a chapter uses when a user supplies them: RNA-FM, DNABERT-3, Beluga.

Registered in :mod:`course_lib.weights` (the course never downloads them; each entry says where
to get them and where to put them). Optimus and Framepool, a few megabytes each, are data sets of
:mod:`course_lib.datasets.published_models`; chapter 5's UTR-LM is built by the course and cached
under a hash of its recipe (:func:`course_lib.weights.recipe_folder`).
"""

from __future__ import annotations

from course_lib.weights import WeightsEntry, register_weights

RNAFM = register_weights(
    WeightsEntry(
        name="rnafm",
        description="RNA-FM, a 12-layer RNA foundation model (chapter 1's frozen backbone)",
        location="RNA-FM_pretrained.pth",
        source=(
            "https://proj.cse.cuhk.edu.hk/rnafm/api/download?filename=RNA-FM_pretrained.pth "
            "(linked from https://github.com/ml4bio/RNA-FM)"
        ),
        size="about 1.1 GB",
        licence="MIT (ml4bio/RNA-FM)",
        redistributable=True,
        citation=(
            "Chen J et al. Interpretable RNA foundation model from unannotated data for highly "
            "accurate RNA structure and function predictions. arXiv:2204.00300 (2022)."
        ),
        parameter="rnafm_checkpoint",
        stand_in="a small randomly initialised model of the RNA-FM architecture",
    )
)

DNABERT3 = register_weights(
    WeightsEntry(
        name="dnabert3",
        description="DNABERT-3, BERT pretrained on the human genome in 3-mers (chapter 3)",
        location="DNA_bert_3",
        source=(
            "the Hugging Face model zhihan1996/DNA_bert_3 (`huggingface-cli download "
            "zhihan1996/DNA_bert_3 --local-dir DNA_bert_3`), or the release of "
            "github.com/jerryji1993/DNABERT"
        ),
        size="about 0.4 GB",
        licence="as stated by the DNABERT repository (jerryji1993/DNABERT)",
        citation=(
            "Ji Y, Zhou Z, Liu H, Davuluri RV. DNABERT: pre-trained Bidirectional Encoder "
            "Representations from Transformers model for DNA-language in genome. "
            "Bioinformatics 37, 2112-2120 (2021)."
        ),
        parameter="dnabert_path",
        stand_in="the small BERT of the same recipe that the chapter trains itself",
        is_folder=True,
        required_files=("config.json", "vocab.txt"),
    )
)

BELUGA = register_weights(
    WeightsEntry(
        name="beluga",
        description="DeepSEA Beluga, 2,002 chromatin profiles from 2,000 bp (chapter 4's teacher)",
        location="deepsea.beluga.pth",
        source="the ExPecto resources archive linked from https://github.com/FunctionLab/ExPecto",
        size="several hundred MB",
        licence="as stated by the ExPecto repository (FunctionLab/ExPecto)",
        citation=(
            "Zhou J et al. Deep learning sequence-based ab initio prediction of variant effects "
            "on expression and disease risk. Nat Genet 50, 1171-1179 (2018)."
        ),
        parameter="beluga_checkpoint",
        stand_in="a scaled-down Beluga teacher trained by the chapter on the genome excerpt",
    )
)
