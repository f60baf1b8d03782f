"""Tree and forest pictures (SPEC 6): decoded PNGs, their sizes, what changes them, the cache."""

from __future__ import annotations

import io
import itertools
import threading

import pytest
from PIL import Image, ImageChops

from scripts import draw_sprites
from server.trees import images
from tests.api import Api, User, earn
from tests.trees.test_trees import adopt


def decode(content: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(content))
    assert image.format == "PNG"
    image.load()
    return image


def same_pixels(a: bytes, b: bytes) -> bool:
    first, second = decode(a).convert("RGBA"), decode(b).convert("RGBA")
    return first.size == second.size and ImageChops.difference(first, second).getbbox(alpha_only=False) is None


async def png(user: User, path: str) -> bytes:
    response = await user.get(path)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("image/png")
    assert response.headers["cache-control"] == "private, max-age=60" and response.headers["etag"]
    return response.content


@pytest.fixture(autouse=True)
def empty_caches() -> None:
    images.TREES.clear()
    images.FORESTS.clear()


def test_every_species_is_drawn_at_every_stage() -> None:
    keys = images.sprite_keys()
    assert keys == set(draw_sprites.SPECIES)
    for key in keys:
        sprites = [images.tree_sprite(key, stage) for stage in images.STAGES]
        for sprite in sprites:
            assert sprite.size == (256, 256) and sprite.mode == "RGBA"
        for smaller, larger in itertools.pairwise(sprites):  # every stage looks different
            assert ImageChops.difference(smaller, larger).getbbox(alpha_only=False) is not None
    grown = [images.tree_sprite(key, "grown") for key in sorted(keys)]
    for index, sprite in enumerate(grown):  # and so does every species
        for other in grown[index + 1 :]:
            assert ImageChops.difference(sprite, other).getbbox(alpha_only=False) is not None


def test_committed_sprites_are_what_the_script_draws() -> None:
    assert draw_sprites.main(["--check"]) == 0
    total = sum(path.stat().st_size for path in images.SPRITES.glob("*.png"))
    assert total < 512 * 1024


def test_species_keys_fall_back_to_the_genus_then_generic() -> None:
    assert images.species_key("Saxaul", "Haloxylon ammodendron") == "saxaul"
    assert images.species_key("Red willow (tamarisk)", "Tamarix ramosissima") == "red-willow-tamarisk"
    assert images.species_key("Chinese pine", "Pinus tabuliformis") == "mongolian-pine"
    assert images.species_key("Desert poplar", "Populus euphratica") == "generic"
    assert images.species_key("", "") == "generic"


async def test_tree_image_shows_the_stage_and_changes_with_it(api: Api) -> None:
    user = await api.register()
    tree = await adopt(user, await api.project())
    seed = await png(user, f"/v1/me/trees/{tree['id']}/image.png")
    assert decode(seed).width >= 256

    await earn(user, 1_800)  # 7 x 296 g = 2,072 g of 17,900 g: a sprout
    assert (await user.get(f"/v1/me/trees/{tree['id']}")).json()["stage"] == "sprout"
    sprout = await png(user, f"/v1/me/trees/{tree['id']}/image.png")
    assert decode(sprout).width >= 256
    assert not same_pixels(seed, sprout)


async def test_each_species_has_its_own_picture(api: Api) -> None:
    user = await api.register()
    desert = await api.project("Alxa desert restoration")
    pictures = []
    for index in range(len(desert["species"])):
        tree = await adopt(user, desert, index)
        pictures.append(await png(user, f"/v1/me/trees/{tree['id']}/image.png"))
        assert (await user.delete(f"/v1/me/trees/{tree['id']}")).status_code == 204
    assert len(pictures) == 4
    for index, picture in enumerate(pictures):
        assert all(not same_pixels(picture, other) for other in pictures[index + 1 :])


async def test_tree_images_are_private(api: Api) -> None:
    owner, other = await api.register(), await api.register()
    tree = await adopt(owner, await api.project())
    for response in (
        await other.get(f"/v1/me/trees/{tree['id']}/image.png"),
        await owner.get("/v1/me/trees/0190a3b4-0000-7000-8000-000000000000/image.png"),
    ):
        assert response.status_code == 404
        assert response.headers["content-type"].startswith("application/problem+json")
        assert response.json()["type"].endswith(":tree-not-found")
    assert (await api.client.get(f"/v1/me/trees/{tree['id']}/image.png")).status_code == 401
    assert (await api.client.get("/v1/me/forest.png")).status_code == 401


async def test_forest_shows_ripe_balls_and_the_growing_tree(api: Api) -> None:
    user = await api.register()
    empty = await png(user, "/v1/me/forest.png")
    assert decode(empty).width >= 512

    await user.walk(14_800)  # a growing ball is not drawn yet
    assert same_pixels(await png(user, "/v1/me/forest.png"), empty)

    await api.advance_to_next_morning()  # it ripens: 296 g appear
    ripe = await png(user, "/v1/me/forest.png")
    assert not same_pixels(ripe, empty)

    await user.collect_all()  # collected: the plot is empty again
    assert same_pixels(await png(user, "/v1/me/forest.png"), empty)

    await adopt(user, await api.project())
    with_tree = await png(user, "/v1/me/forest.png")
    assert decode(with_tree).width >= 512 and not same_pixels(with_tree, empty)


async def test_forest_shows_the_trees_paid_for(api: Api) -> None:
    user = await api.register()
    tree = await adopt(user, await api.project())
    await earn(user, 17_900)
    grown = await png(user, "/v1/me/forest.png")
    assert (await user.post(f"/v1/me/trees/{tree['id']}/plant")).status_code == 200
    queued = await png(user, "/v1/me/forest.png")  # the tree left the plot for the horizon
    assert not same_pixels(grown, queued)
    assert (await png(user, f"/v1/me/trees/{tree['id']}/image.png")) == await png(
        user, f"/v1/me/trees/{tree['id']}/image.png"
    )


async def test_a_repeat_is_served_from_the_cache(api: Api) -> None:
    first_user, second_user = await api.register(), await api.register()
    tree = await adopt(first_user, await api.project())
    other_tree = await adopt(second_user, await api.project())
    before = dict(images.renders)

    first = await first_user.get(f"/v1/me/trees/{tree['id']}/image.png")
    again = await first_user.get(f"/v1/me/trees/{tree['id']}/image.png")
    same_look = await second_user.get(f"/v1/me/trees/{other_tree['id']}/image.png")  # saxaul seed too
    assert first.content == again.content == same_look.content
    assert images.renders["tree"] - before.get("tree", 0) == 1

    forests = [await first_user.get("/v1/me/forest.png") for _ in range(3)]
    forests.append(await second_user.get("/v1/me/forest.png"))  # the same scene: a saxaul seed, no balls
    assert len({forest.content for forest in forests}) == 1
    assert images.renders["forest"] - before.get("forest", 0) == 1

    etag = first.headers["etag"]
    unchanged = await api.client.get(
        f"/v1/me/trees/{tree['id']}/image.png", headers={**first_user.headers, "If-None-Match": etag}
    )
    assert unchanged.status_code == 304 and unchanged.content == b"" and unchanged.headers["etag"] == etag


async def test_rendering_happens_off_the_event_loop(api: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    threads = []
    render_forest, render_tree = images.render_forest, images.render_tree

    def forest_spy(*args: object) -> bytes:
        threads.append(threading.current_thread())
        return render_forest(*args)

    def tree_spy(*args: object) -> bytes:
        threads.append(threading.current_thread())
        return render_tree(*args)

    monkeypatch.setattr(images, "render_forest", forest_spy)
    monkeypatch.setattr(images, "render_tree", tree_spy)
    user = await api.register()
    tree = await adopt(user, await api.project())
    await png(user, "/v1/me/forest.png")
    await png(user, f"/v1/me/trees/{tree['id']}/image.png")
    assert len(threads) == 2 and threading.main_thread() not in threads


def test_the_forest_caps_what_it_draws() -> None:
    scene = images.forest_scene(("saxaul", "young"), [10] * 20, [("saxaul", True)] * 50)
    assert len(scene.balls) == images.MAX_BALLS - 1 and scene.more_balls == 20 - (images.MAX_BALLS - 1)
    assert len(scene.planted) == images.MAX_PLANTED and scene.more_planted == 50 - images.MAX_PLANTED
    picture = decode(images.render_forest(scene))
    assert picture.size == (images.FOREST_WIDTH, images.FOREST_HEIGHT)
    assert images.forest_scene(None, [], []) == images.forest_scene(None, [], [])  # a usable cache key
