"""The paper both trainers implement, as TRL's model cards cite it (`_paper` of a TRL trainer)."""

import textwrap

REFT_PAPER = {
    "title": "ReFT: Reasoning with Reinforced Fine-Tuning",
    "id": "2401.08967",
    # docstyle-ignore
    "citation": textwrap.dedent("""\
        @inproceedings{luong2024reft,
            title        = {{ReFT: Reasoning with Reinforced Fine-Tuning}},
            author       = {Trung Quoc Luong and Xinbo Zhang and Zhanming Jie and Peng Sun and Xiaoran Jin and Hang Li},
            year         = 2024,
            booktitle    = {Proceedings of the 62nd Annual Meeting of the Association for Computational Linguistics},
        }"""),
}
