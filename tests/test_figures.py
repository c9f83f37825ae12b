"""Every kind of figure the package draws, checked with Matplotlib's own layout tools: no text lies outside the
canvas (even in part), and no two titles overlap.  The figures are drawn at the size they are saved at."""

import itertools

import numpy as np
import pytest
from matplotlib.backends.backend_agg import FigureCanvasAgg

import cnn_backprop as cb
from cnn_backprop import figures

SMALL_DIGITS = "conv 4x3x3 pad 1, relu, maxpool 2, dense 10, softmax"
TWO_CONV = "conv 16x3x3 pad 1, relu, maxpool 2, conv 4x3x3 pad 1, relu, maxpool 2, dense 10, softmax"


def walkthrough_figures(pass_):
    """Each panel of a walkthrough as the command draws it, and its overview."""
    decimals = figures.walkthrough_decimals(pass_)
    drawn = {name: figures.panel_figure(array, title, decimals, marks)
             for name, (_, title, array, marks) in figures.panels(pass_).items()}  # fmt: skip
    drawn["overview"] = figures.overview(pass_, decimals)
    return drawn


def evaluation(model, source=None):
    m = cb.evaluate_model(model, source)
    return figures.evaluation_figure(m["images"], m["labels"], m["predicted"], m["probabilities"], m["confusion"],
                                     m["classes"])  # fmt: skip


def every_figure():
    seed_model = cb.fit(epochs=1, train_size=64, test_size=64)
    digits_model = cb.fit(SMALL_DIGITS, "digits", epochs=1)
    images, labels, classes = cb.dataset("shapes", 40)
    digits = cb.load_data("digits")
    kinds = {
        "learning curves": figures.learning_curves(digits_model["history"]),
        "dataset, shapes": figures.dataset_grid(images, labels, classes),
        "dataset, digits": figures.dataset_grid(digits.test_images, digits.test_labels, digits.classes),
        "evaluation, shapes": evaluation(seed_model["model"]),
        "evaluation, digits": evaluation(digits_model["model"]),
        "mistakes": figures.mistakes_figure({"pool-overwrite": 5, "fc-weight-grad": 3, "squared-error-gradient": 1}),
        "no mistakes": figures.mistakes_figure({}),
    }
    # the seed's one map; a few maps; two conv layers, with more kernels than a panel draws (32 of 64)
    for net, source in ((None, "shapes"), (SMALL_DIGITS, "digits"), (TWO_CONV, "digits")):
        for name, fig in walkthrough_figures(cb.run(net=net, source=source, seed=4)).items():
            kinds[f"walkthrough {net or cb.default_net(source)} on {source}: {name}"] = fig
    return kinds


FIGURES = every_figure()


def titles(fig):
    """Every title of ``fig``: its suptitles (of subfigures too) and each axes' titles, the non-empty ones."""
    found = [f._suptitle for f in (fig, *fig.subfigs) if f._suptitle is not None]
    for ax in fig.get_axes():
        found += [ax.title, ax._left_title, ax._right_title]
    return [t for t in found if t.get_visible() and t.get_text()]


def inside(box, canvas):
    return box.x0 >= canvas.x0 - 0.5 and box.y0 >= canvas.y0 - 0.5 and box.x1 <= canvas.x1 + 0.5 and \
        box.y1 <= canvas.y1 + 0.5  # fmt: skip


@pytest.mark.parametrize("kind", FIGURES, ids=list(FIGURES))
def test_every_text_lies_inside_the_figure_and_no_two_titles_overlap(kind):
    fig = FIGURES[kind]
    canvas = FigureCanvasAgg(fig)
    canvas.draw()  # the layout engine places everything as it will be saved
    renderer = canvas.get_renderer()
    # an axes' tight box holds everything it draws: its titles, axis names, tick labels, and the texts on it
    for ax in fig.get_axes():
        box = ax.get_tightbbox(renderer)
        assert inside(box, fig.bbox), f"the axes titled {ax.get_title()!r} reaches {box}, outside {fig.bbox}"
    for part in (fig, *fig.subfigs):  # what is drawn on the figure itself: suptitles, texts
        for text in [part._suptitle, *part.texts]:
            if text is not None and text.get_text():
                assert inside(text.get_window_extent(renderer), fig.bbox), text.get_text()
    shown = titles(fig)
    assert shown
    for a, b in itertools.combinations(shown, 2):
        assert not a.get_window_extent(renderer).overlaps(b.get_window_extent(renderer)), (a.get_text(), b.get_text())


def test_the_overview_promises_outlines_only_where_it_draws_them():
    seed = figures.overview(cb.run(seed=0))
    assert "red outlines" in seed._suptitle.get_text()
    assert any(p.get_edgecolor()[:3] == (1, 0, 0) for ax in seed.get_axes() for p in ax.patches)
    digits = figures.overview(cb.run(net=TWO_CONV, source="digits", seed=4))
    assert "red outlines" not in digits._suptitle.get_text()
    assert not any(ax.patches for ax in digits.get_axes())


def test_the_confusion_matrix_names_its_axes_and_classes():
    fig = FIGURES["evaluation, digits"]
    ax = fig.subfigs[0].get_axes()[0]
    assert (ax.get_xlabel(), ax.get_ylabel()) == ("predicted class", "true class")
    assert [t.get_text() for t in ax.get_xticklabels()] == [str(k) for k in range(10)]
    assert [t.get_text() for t in ax.get_yticklabels()] == [str(k) for k in range(10)]
    shapes = FIGURES["evaluation, shapes"].subfigs[0].get_axes()[0]
    assert [t.get_text() for t in shapes.get_yticklabels()] == ["cross", "rectangle"]


def images_of(fig):
    return [ax.images[0] for ax in fig.get_axes() if ax.images]


@pytest.mark.parametrize("net, source", [(None, "shapes"), (SMALL_DIGITS, "digits"), (TWO_CONV, "digits")])
def test_the_forward_maps_share_one_colour_scale_and_gradients_diverge_around_0_each_with_a_colour_bar(net, source):
    pass_ = cb.run(net=net, source=source, seed=4)
    chosen = figures.panels(pass_)
    for columns in (1, 2):
        fig = figures.overview(pass_, figures.walkthrough_decimals(pass_), columns=columns)
        drawn = dict(zip(chosen, images_of(fig)))
        assert len(drawn) == len(chosen)
        forward = {drawn[name].get_clim() for name, (section, *_) in chosen.items() if section == "forward"}
        assert len(forward) == 1  # one scale for every forward map
        every = np.concatenate([np.ravel(a) for s, _, a, _ in chosen.values() if s == "forward"])
        low, high = forward.pop()
        assert high == np.abs(every).max() and low == (-high if every.min() < 0 else 0)
        for name, (section, _, array, _) in chosen.items():
            image = drawn[name]
            assert image.colorbar is not None, name
            low, high = image.get_clim()
            assert low <= np.min(array) and high >= np.max(array), name  # nothing clipped by the scale
            if section == "backward":
                assert low == -high and image.cmap.name == "RdBu_r", name
            elif section != "forward" and np.min(array) >= 0:
                assert low == 0, name  # a scale from the smallest value would paint it as 0
    # the separate files of the panels share the forward scale too
    pngs = figures.walkthrough_pngs(pass_)
    assert set(pngs) == {*chosen, "overview"}


def test_the_seeds_pooled_maxima_are_as_bright_as_the_maximum_they_took():
    pass_ = cb.run(seed=0)
    fig = figures.overview(pass_, 4)
    drawn = dict(zip(figures.panels(pass_), images_of(fig)))
    pool, conv = drawn["pool"], drawn["conv_pre"]
    assert pool.get_clim() == conv.get_clim()
    top = pool.cmap(pool.norm(2.8342))
    assert np.allclose(top, conv.cmap(conv.norm(np.max(pass_["forward"]["conv_pre"]))), atol=0.01)
    assert pool.norm(np.min(pass_["forward"]["pool"])) > 0.95  # the top of the scale: bright, not dark


def test_the_home_figure_keeps_its_numbers_legible_in_one_or_two_columns():
    pass_ = cb.run(seed=0)
    for columns, page in ((2, 688), (1, 370)):  # the width the site gives it at 1280 and at 400 pixels
        fig = figures.overview(pass_, 4, columns=columns)
        scale = min(1, page / (fig.get_figwidth() * 100))
        numbers = [t for ax in fig.get_axes() for t in ax.texts]
        assert numbers and min(t.get_fontsize() for t in numbers) * 100 / 72 * scale >= 11  # pixels on the page


def test_the_learning_curves_show_accuracy_on_its_whole_scale_and_say_the_last_values():
    fig = FIGURES["learning curves"]
    _, accuracy = fig.get_axes()
    assert accuracy.get_ylim() == (0, 100)
    assert all("last epoch" in t.get_text() for t in accuracy.get_legend().get_texts())


def test_the_dataset_grid_says_how_many_it_shows():
    assert FIGURES["dataset, shapes"]._suptitle.get_text() == "First 32 of 40 images"
    assert FIGURES["dataset, digits"]._suptitle.get_text() == "First 32 of 359 images"
    images, labels, classes = cb.dataset("shapes", 32)  # what docs/figures/dataset.png draws
    fig = figures.dataset_grid(images, labels, classes)
    assert fig._suptitle.get_text() == "All 32 images"
    drawn = images_of(fig)
    assert {image.get_clim() for image in drawn} == {(0, 1)} and drawn[-1].colorbar is not None  # one bar for all


def test_the_misclassified_images_fill_their_half_of_the_evaluation():
    fig = FIGURES["evaluation, digits"]
    FigureCanvasAgg(fig).draw()
    right = fig.subfigs[1]
    drawn = [ax.get_window_extent() for ax in right.get_axes() if ax.images]
    assert drawn, "the one-epoch digits model gets some digits wrong"
    share = sum(box.width * box.height for box in drawn) / (right.bbox.width * right.bbox.height)
    assert share > 0.3, share
    assert fig.subfigs[0].get_axes()[0].images[0].colorbar is not None  # the counts' scale
