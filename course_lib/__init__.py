"""course_lib: the tested code behind the course *Deep learning for RNA and DNA sequences*.

Every chapter notebook imports its chapter module from :mod:`course_lib.chapters` and shared
modules as needed. Dependencies point one way: chapters -> models / training / interpret ->
encoding / metrics / data.

Chapters (one module per notebook: recipes; listed in :mod:`course_lib.manifest`; beside
each, ``chN_config``: its parameters per profile, one :mod:`course_lib.config` class, and
``chN_report``: its anchors and results file)

- :mod:`course_lib.chapters` -- the package; nothing outside it imports a chapter module
- :mod:`course_lib.chapters.ch0_config` ... :mod:`course_lib.chapters.ch5_config` -- each
  chapter's typed, validated configuration (:mod:`course_lib.chapters.ch1_config`,
  :mod:`course_lib.chapters.ch2_config`, :mod:`course_lib.chapters.ch3_config`,
  :mod:`course_lib.chapters.ch4_config`)
- :mod:`course_lib.chapters.ch0_report` ... :mod:`course_lib.chapters.ch5_report` -- each
  chapter's anchors and the one function writing its results file
  (:mod:`course_lib.chapters.ch1_report`, :mod:`course_lib.chapters.ch2_report`,
  :mod:`course_lib.chapters.ch3_report`, :mod:`course_lib.chapters.ch4_report`)
- :mod:`course_lib.chapters.ch0_sequences` -- ``00_sequences.ipynb``
- :mod:`course_lib.chapters.ch0_genome_stats` -- chapter 0: GC content along a sequence,
  dinucleotide enrichment
- :mod:`course_lib.chapters.ch1_utr_rnafm` -- ``01_utr_rnafm.ipynb``: RNA-FM + ResNet heads
- :mod:`course_lib.chapters.ch2_optimus_attention` -- ``02_optimus_attention.ipynb``: published
  models on real UTRs, SNVs, cross-validated own models, in-silico experiments, design
- :mod:`course_lib.chapters.ch2_design` -- chapter 2: AUG insertion scans and sequence design
  on a UTR model
- :mod:`course_lib.chapters.ch3_pum2_dnabert_lstm` -- ``03_pum2_dnabert_lstm.ipynb``: the DNABERT
  folder or its stand-in, token-model views, fold intervals, explanations, exercises
- :mod:`course_lib.chapters.ch3_models` -- chapter 3: its four model kinds as fold trainers,
  cross-validated through one loop
- :mod:`course_lib.chapters.ch3_kmer_baseline` -- chapter 3: k-mer count logistic regression
- :mod:`course_lib.chapters.ch4_beluga_multiplexer` -- ``04_beluga_multiplexer.ipynb``: teacher,
  multiplexer distillation, speed-up
- :mod:`course_lib.chapters.ch5_utr_lm` -- ``05_utr_lm.ipynb``: the copy baseline, pretraining
  loss panels, exercises
- :mod:`course_lib.chapters.ch5_mrl_finetuning` -- chapter 5: UTR-LM fine-tuned on MRL over
  real Random7600 folds
- :mod:`course_lib.chapters.ch1_embedding_cache` -- chapter 1: a frozen backbone's embeddings
  cached on disk
- :mod:`course_lib.chapters.ch1_backbones` -- chapter 1: RNA-FM through the weights registry,
  UTR-LM as second backbone, their embedding folds
- :mod:`course_lib.chapters.ch5_structure_check` -- chapter 5: the course's structure labels
  against independent ones
- :mod:`course_lib.chapters.ch4_chromatin` -- chapter 4: a synthetic chromatin task and genome
  windows

Models (architectures and their checkpoint loaders)

- :mod:`course_lib.models` -- the package
- :mod:`course_lib.models.attention_cnn` -- CNN with attention pooling for MRL regression
- :mod:`course_lib.models.beluga` -- DeepSEA Beluga and scaled-down teachers
- :mod:`course_lib.models.bert` -- DNABERT-style BERT configuration, classifier, checkpoint folder
- :mod:`course_lib.models.fused_encoder` -- a fused-attention encoder: the faster path of the
  course's BERT and UTR-LM steps
- :mod:`course_lib.models.bilstm` -- bidirectional LSTM over k-mer tokens
- :mod:`course_lib.models.checkpoint` -- the error for a file that is not the expected weights
- :mod:`course_lib.models.cnn_classifier` -- small one-hot CNN classifier
- :mod:`course_lib.models.framepool` -- Framepool (Karollus et al. 2021) and its Keras loader
- :mod:`course_lib.models.published` -- published Framepool and Optimus files as predictors
- :mod:`course_lib.models.keras_weights` -- Keras HDF5 weights read with h5py, checked by layer
- :mod:`course_lib.models.multiplexer` -- BelugaMultiplexer: every variant's effect in one pass
- :mod:`course_lib.models.optimus` -- Optimus 5-Prime
- :mod:`course_lib.models.rnafm` -- the RNA-FM backbone and its checkpoint loader
- :mod:`course_lib.models.utr_lm` -- UTR-LM: ESM-2-style UTR language model, save and load
- :mod:`course_lib.models.utr_resnet` -- the RNA-FM tutorial's 1-D ResNet head

Training, evaluation and interpretation

- :mod:`course_lib.training` -- the fit/predict loop, a model as a predictor of sequences,
  devices, seeds, warm-up schedules
- :mod:`course_lib.training_pool` -- independent trainings (folds, curve points) side by side
  in one-thread worker processes
- :mod:`course_lib.updates` -- the one optimizer update every loop ends with (check the loss,
  clip, step)
- :mod:`course_lib.ridge` -- the shallow reference: a ridge regression on k-mer frequencies
  (chapter 1's probe, chapter 5's k-mer arm)
- :mod:`course_lib.pretraining` -- UTR-LM's self-supervised objectives, counted in steps
- :mod:`course_lib.kmer_pretraining` -- masked k-mer pretraining of a BERT (chapter 3)
- :mod:`course_lib.distributed` -- torchrun + DistributedDataParallel: each rank's slice of
  one global batch, rank 0 alone writes
- :mod:`course_lib.preflight` -- GPU memory and time of a long run, estimated before it starts
- :mod:`course_lib.launch` -- ``python -m course_lib.launch pretrain|finetune``: a chapter's
  backbones or fine-tuning runs on one process, several GPUs or machines (``torchrun``)
- :mod:`course_lib.cross_validation` -- stratified k-fold CV with a fresh model per fold
- :mod:`course_lib.grids` -- whether each value chosen on validation lies inside its grid
  (chapters 3 and 5's learning rates)
- :mod:`course_lib.metrics` -- exactly named regression and classification metrics
- :mod:`course_lib.uncertainty` -- bootstrap intervals, spread over folds, corrected t-tests
- :mod:`course_lib.atomic` -- writes that are whole or absent (results, caches, stamps)
- :mod:`course_lib.baselines` -- no-learning copy baselines of masked-token prediction
- :mod:`course_lib.token_batches` -- length-bucketed token batches trimmed to their longest row
- :mod:`course_lib.interpret` -- the interpretation package
- :mod:`course_lib.interpret.position_mutagenesis` -- position-by-base mutagenesis ``[n, L, 4]``
- :mod:`course_lib.interpret.variant_mutagenesis` -- variant-indexed ISM maps ``[F, 4, L]``
- :mod:`course_lib.interpret.taylor` -- first-order Taylor estimate of every variant's effect,
  gradient x (alt - ref), in the ISM layout ``[F, 4, L]`` (chapter 4)
- :mod:`course_lib.interpret.attribution` -- gradient x input, token-model explanations
- :mod:`course_lib.interpret.integrated_gradients` -- integrated gradients (Gauss-Legendre)
- :mod:`course_lib.interpret.logos` -- aligned windows, information matrices, sequence logos

Sequences and data

- :mod:`course_lib.encoding` -- one-hot, padding, RNA/DNA conversion, k-mers
- :mod:`course_lib.text` -- mappings printed as sentences, not Python dicts
- :mod:`course_lib.tokenization` -- k-mer vocabularies and tokenizers, masking
- :mod:`course_lib.fasta` -- FASTA reading and genome random access
- :mod:`course_lib.structure` -- ViennaRNA secondary-structure labels, cached
- :mod:`course_lib.utr_corpus` -- real pretraining corpus without Random7600/Human7600
- :mod:`course_lib.utr_lm_backbone` -- the UTR-LM backbone's recipe, cached under its hash
  (chapter 5 builds it, chapter 1 borrows it)
- :mod:`course_lib.utr_protocol` -- chapter 1's cross-validation within Random7600
- :mod:`course_lib.tables` -- real tables read the way they come
- :mod:`course_lib.registry` -- data sets, downloads, checksums and provenance
- :mod:`course_lib.weights` -- pretrained weights: where found, source, stand-in, recipe folders
- :mod:`course_lib.datasets` -- the catalog: importing it registers every data set
- :mod:`course_lib.datasets.egfp` -- the 50-nt eGFP 5' UTR library
- :mod:`course_lib.datasets.genome` -- the hg38 chr22 excerpt
- :mod:`course_lib.datasets.pretrained_weights` -- RNA-FM, DNABERT-3 and Beluga weights entries
- :mod:`course_lib.datasets.published_models` -- Optimus and Framepool weights, ClinVar SNVs
- :mod:`course_lib.datasets.pum2` -- PUM2 PAR-CLIP binding sites
- :mod:`course_lib.datasets.structure_refs` -- Smart5UTR MFEs and UTR-LM labelled records
- :mod:`course_lib.datasets.utr_testsets` -- the real Sample et al. test sets (MTtrans copy)
- :mod:`course_lib.datasets.utr` -- the varying-length 5' UTR MRL library and its split

Running the book

- :mod:`course_lib.profiles` -- the ``smoke`` / ``laptop`` / ``full`` run profiles
- :mod:`course_lib.config` -- the base of a chapter's configuration: typed parameters, profiles
  as differences from one base, validation naming the papermill flag that fixes a value
- :mod:`course_lib.paths` -- data, results and checkpoint folders
- :mod:`course_lib.progress` -- progress bars for notebooks and papermill
- :mod:`course_lib.plotting` -- learning curves, scatter plots, ROC curves
- :mod:`course_lib.report` -- one report type: ``Anchor``, ``Interval``, ``Estimate``,
  ``Headline`` and ``chapter_report``, which writes ``results/<chapter>.json``
- :mod:`course_lib.results` -- reading the ``results/<chapter>.json`` files back
- :mod:`course_lib.manifest` -- the chapters, listed once (number, stem, title, module)
- :mod:`course_lib.exercises` -- self-checking exercises with a hint ladder
- :mod:`course_lib.source` -- a chapter's central model shown as code in the notebook, named
  by file and line, docstrings cut to their summary

The book's tooling (the papermill runner, the site builder, student versions and chapter
timings) is the separate package :mod:`course_book`, so that importing ``course_lib`` never
imports papermill or Jupyter Book; ``course_lib`` never imports ``course_book``.
"""

__version__ = "0.1.0"
