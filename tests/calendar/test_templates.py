"""Templates: the built-ins, stamping events from them, saving one's own."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session

from app.calendar import planning
from app.calendar import service as calendar_service
from app.calendar.schemas import TemplateBody
from app.calendar.templates import MILESTONE_CODES, builtin_templates
from tests.calendar.test_events import locs, problem
from tests.factories import create_event, create_task

FROM_TEMPLATE = "/api/v1/events/from-template"


class TestBuiltins:
    @pytest.mark.parametrize("key", ["double11", "618"])
    def test_each_builtin_is_a_valid_plan_with_every_milestone_code(self, key: str):
        template = builtin_templates()[key]
        body = TemplateBody.model_validate(template["body"])
        calendar_service.check_template_body(body, ["body"])
        codes = {task.code for task in body.tasks}
        assert set(MILESTONE_CODES) <= codes
        assert [p.key for p in body.phases] == ["warmup", "presale", "peak", "encore"]
        assert {task.team for task in body.tasks} >= {"activity", "content", "design"}

    def test_templates_are_listed_builtins_first(self, client: TestClient, viewer):
        items = client.get("/api/v1/templates", headers=viewer).json()["items"]
        assert [t["key"] for t in items[:2]] == ["double11", "618"]
        assert all(t["builtin"] for t in items[:2])


class TestListing:
    def save(self, client: TestClient, planner, *keys: str) -> None:
        for key in keys:
            response = client.post("/api/v1/templates", json=written_out(key=key), headers=planner)
            assert response.status_code == 201, response.text

    def test_pages_run_through_the_builtins_then_the_saved_ones_by_key(
        self, client: TestClient, planner, viewer
    ):
        self.save(client, planner, "zz-sale", "aa-sale", "mm-sale")
        for limit in (1, 2, 3, 5, 6):
            keys, cursor, pages = [], None, 0
            while True:
                params: dict[str, Any] = {"limit": limit} | ({"cursor": cursor} if cursor else {})
                response = client.get("/api/v1/templates", params=params, headers=viewer)
                assert response.status_code == 200, response.text
                page = response.json()
                assert len(page["items"]) <= limit
                keys += [t["key"] for t in page["items"]]
                pages += 1
                cursor = page["next"]
                if cursor is None:
                    break
            assert keys == ["double11", "618", "aa-sale", "mm-sale", "zz-sale"], limit
            assert pages == -(-5 // limit), limit  # no empty last page
        first = client.get("/api/v1/templates", headers=viewer).json()
        assert [t["builtin"] for t in first["items"]] == [True, True, False, False, False]
        assert first["items"][2]["version"] == 1 and first["next"] is None

    def test_a_saved_template_added_meanwhile_is_not_skipped(
        self, client: TestClient, planner, viewer
    ):
        self.save(client, planner, "bb-sale")
        page = client.get("/api/v1/templates", params={"limit": 2}, headers=viewer).json()
        self.save(client, planner, "aa-sale")
        rest = client.get(
            "/api/v1/templates", params={"limit": 2, "cursor": page["next"]}, headers=viewer
        ).json()
        assert [t["key"] for t in rest["items"]] == ["aa-sale", "bb-sale"]

    def test_a_forged_cursor_is_a_422_naming_it(self, client: TestClient, viewer):
        for cursor in ("nonsense", "WyJ4IiwieSJd"):  # the second is ["x","y"]
            body = problem(
                client.get("/api/v1/templates", params={"cursor": cursor}, headers=viewer), 422
            )
            assert locs(body) == [["query", "cursor"]]
        problem(client.get("/api/v1/templates", params={"limit": 0}, headers=viewer), 422)


class TestFromTemplate:
    def test_double11_is_stamped_on_its_anchor_in_shanghai(
        self, client: TestClient, planner, session: Session
    ):
        response = client.post(
            FROM_TEMPLATE, json={"template": "double11", "anchor": "2027-11-11"}, headers=planner
        )
        assert response.status_code == 201, response.text
        event = response.json()
        assert event["name"] == "Double 11 双十一 2027"
        assert event["template_key"] == "double11" and event["anchor_date"] == "2027-11-11"
        peak = next(p for p in event["phases"] if p["key"] == "peak")
        assert (peak["starts_at"], peak["ends_at"]) == (
            "2027-11-10T20:00:00+08:00",
            "2027-11-12T00:00:00+08:00",
        )
        assert event["starts_at"] == "2027-10-21T00:00:00+08:00"
        close = calendar_service.get_task_by_code(
            session, event_id=event["id"], code="signup_close"
        )
        assert close is not None and close.kind == "milestone"
        assert close.starts_at.isoformat() == "2027-10-06T10:00:00+00:00"  # 18:00 in Shanghai
        gantt = client.get(f"/api/v1/events/{event['id']}/gantt", headers=planner).json()
        assert gantt["violations"] == [], "a built-in plan keeps its own dependencies"
        assert gantt["critical_path"]

    def test_the_zone_and_name_can_be_chosen_and_dst_is_respected(
        self, client: TestClient, planner
    ):
        body = {
            "template": "double11",
            "anchor": "2027-11-11",
            "timezone": "America/New_York",
            "name": "Singles Day US",
        }
        event = client.post(FROM_TEMPLATE, json=body, headers=planner).json()
        # Warm-up starts on 21 October (EDT), the peak on 10 November (EST).
        assert event["starts_at"] == "2027-10-21T00:00:00-04:00"
        peak = next(p for p in event["phases"] if p["key"] == "peak")
        assert peak["starts_at"] == "2027-11-10T20:00:00-05:00"

    @pytest.mark.parametrize(
        ("body", "status", "words"),
        [
            ({"template": "blackfriday", "anchor": "2027-11-26"}, 404, "double11"),
            ({"template": "618", "anchor": "2027-06-31"}, 422, ""),
            ({"template": "618", "anchor": "9999-12-30"}, 422, "between the years"),
            (
                {"template": "618", "anchor": "2027-06-18", "timezone": "Moon/Base"},
                422,
                "time zone",
            ),
        ],
    )
    def test_bad_requests_say_what_is_wrong(self, client: TestClient, planner, body, status, words):
        assert (
            words
            in problem(client.post(FROM_TEMPLATE, json=body, headers=planner), status)["detail"]
        )

    def test_moving_the_anchor_a_day_moves_everything(
        self, client: TestClient, planner, session: Session
    ):
        event = client.post(
            FROM_TEMPLATE, json={"template": "618", "anchor": "2027-06-18"}, headers=planner
        ).json()
        before = {
            t.code: t.starts_at for t in calendar_service.list_tasks(session, event_id=event["id"])
        }
        moved = client.post(
            f"/api/v1/events/{event['id']}/shift", json={"by": "P1D"}, headers=planner
        ).json()
        assert moved["anchor_date"] == "2027-06-19"
        session.expire_all()
        after = {
            t.code: t.starts_at for t in calendar_service.list_tasks(session, event_id=event["id"])
        }
        assert all((after[c] - before[c]).days == 1 for c in before)


def written_out(**overrides: Any) -> dict[str, Any]:
    return {
        "key": "brand-day",
        "name": "Brand day",
        "body": {
            "phases": [{"key": "peak", "name": "Peak", "start": {"day": 0}, "end": {"day": 1}}],
            "tasks": [
                {
                    "code": "brief",
                    "name": "Brief",
                    "team": "activity",
                    "start": {"day": -10, "time": "10:00"},
                    "end": {"day": -8, "time": "18:00"},
                },
                {
                    "code": "launch",
                    "name": "Launch",
                    "kind": "milestone",
                    "start": {"day": 0},
                    "depends_on": [{"code": "brief", "type": "FS", "lag": "P1D"}],
                    "required": True,
                },
            ],
        },
    } | overrides


class TestSavedTemplates:
    def test_a_written_out_template_is_saved_and_stamps_events(
        self, client: TestClient, planner, session: Session
    ):
        saved = client.post("/api/v1/templates", json=written_out(), headers=planner)
        assert saved.status_code == 201, saved.text
        assert saved.json()["builtin"] is False
        event = client.post(
            FROM_TEMPLATE, json={"template": "brand-day", "anchor": "2028-03-08"}, headers=planner
        ).json()
        tasks = calendar_service.list_tasks(session, event_id=event["id"])
        assert [(t.code, t.required) for t in tasks] == [("brief", False), ("launch", True)]

    def test_a_template_saved_from_an_event_reproduces_it(
        self, client: TestClient, planner, session: Session
    ):
        original = client.post(
            FROM_TEMPLATE, json={"template": "618", "anchor": "2027-06-18"}, headers=planner
        ).json()
        saved = client.post(
            "/api/v1/templates",
            json={"key": "our-618", "name": "Our 618", "from_event_id": original["id"]},
            headers=planner,
        )
        assert saved.status_code == 201, saved.text
        expected = TemplateBody.model_validate(builtin_templates()["618"]["body"]).model_dump(
            mode="json", exclude_none=True
        )
        body = saved.json()["body"]
        assert body["phases"] == expected["phases"]

        def by_code(tasks: list[dict[str, Any]]) -> dict[str, Any]:
            return {t["code"]: t for t in tasks}

        assert by_code(body["tasks"]) == by_code(expected["tasks"])
        copy = client.post(
            FROM_TEMPLATE, json={"template": "our-618", "anchor": "2028-06-18"}, headers=planner
        ).json()
        assert copy["starts_at"] == "2028-05-23T00:00:00+08:00"

    def test_an_event_task_without_code_gets_one_in_the_template(
        self, client: TestClient, planner, session: Session
    ):
        event = create_event(session)
        task = create_task(session, event=event)
        saved = client.post(
            "/api/v1/templates",
            json={"key": "mine", "name": "Mine", "from_event_id": event.id, "anchor": "2027-11-11"},
            headers=planner,
        ).json()
        assert saved["body"]["tasks"][0]["code"] == f"task-{task.id}"
        assert saved["body"]["phases"][1] == {
            "key": "peak",
            "name": "peak",
            "start": {"day": 0, "time": "00:00"},
            "end": {"day": 1, "time": "00:00"},
        }

    @pytest.mark.parametrize(
        ("change", "loc"),
        [
            (
                lambda b: b["body"]["tasks"][1]["depends_on"][0].update(code="nope"),
                ["body", "body", "tasks", 1, "depends_on", 0, "code"],
            ),
            (lambda b: b["body"]["tasks"][0].pop("end"), ["body", "body", "tasks", 0, "end"]),
            (
                lambda b: b["body"]["phases"].append(
                    {
                        "key": "encore",
                        "name": "E",
                        "start": {"day": 0, "time": "12:00"},
                        "end": {"day": 2},
                    }
                ),
                ["body", "body", "phases", 1, "start"],
            ),
            (
                lambda b: b["body"]["tasks"][0].update(code="launch"),
                ["body", "body", "tasks", 1, "code"],
            ),
            (
                lambda b: b["body"]["phases"][0]["start"].update(time="25:00"),
                ["body", "body", "phases", 0, "start", "time"],
            ),
            (lambda b: b.pop("body"), ["body"]),
        ],
    )
    def test_a_bad_template_is_a_422_naming_the_field(
        self, client: TestClient, planner, change, loc
    ):
        body = written_out()
        change(body)
        assert loc in locs(
            problem(client.post("/api/v1/templates", json=body, headers=planner), 422)
        )

    def test_an_anchor_far_from_the_event_is_a_422(
        self, client: TestClient, planner, session: Session
    ):
        event = create_event(session)
        session.commit()
        body = {"key": "far", "name": "Far", "from_event_id": event.id, "anchor": "1999-01-01"}
        response = problem(client.post("/api/v1/templates", json=body, headers=planner), 422)
        assert locs(response) == [["body", "anchor"]]

    def test_a_cycle_in_a_template_is_named(self, client: TestClient, planner):
        body = written_out()
        body["body"]["tasks"][0]["depends_on"] = [{"code": "launch"}]
        response = problem(client.post("/api/v1/templates", json=body, headers=planner), 422)
        assert "brief" in response["detail"] and "launch" in response["detail"]

    def test_a_taken_key_is_a_409(self, client: TestClient, planner):
        problem(
            client.post("/api/v1/templates", json=written_out(key="double11"), headers=planner), 409
        )
        assert (
            client.post("/api/v1/templates", json=written_out(), headers=planner).status_code == 201
        )
        problem(client.post("/api/v1/templates", json=written_out(), headers=planner), 409)


class TestPlanningOnTemplates:
    def test_the_builtin_plans_have_no_cycle(self):
        for template in builtin_templates().values():
            body = TemplateBody.model_validate(template["body"])
            codes = {t.code: i for i, t in enumerate(body.tasks)}
            links = [
                planning.Link(i, codes[d.code], d.type, 0)
                for i, t in enumerate(body.tasks)
                for d in t.depends_on
            ]
            planning.critical_path([planning.PlanTask(i, 0, 0) for i in codes.values()], links)
