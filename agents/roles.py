"""The chat roles as Django groups with explicit permissions, kept in sync on every migrate."""

from __future__ import annotations

from django.apps import apps
from django.contrib.auth.management import create_permissions
from django.contrib.auth.models import Group, Permission
from django.utils.translation import pgettext_lazy

AGENT = "Agent"
TEAM_LEAD = "Team lead"
DIRECTOR = "Service director"

#: The history of chats the user took part in (need to know; see agents.selectors).
READ_HISTORY = "chat.view_conversation"
#: Every chat in the history, whoever served it: a permission of its own, shown in the review.
READ_ALL_HISTORY = "chat.view_all_history"

AGENT_PERMISSIONS = [
    "agents.use_console",
    READ_HISTORY,
    "agents.view_cannedreply",
]

#: The floor view: agents' load, chats per topic, waiting times, live chats read-only (audited).
VIEW_FLOOR = "agents.view_floor"

TEAM_LEAD_PERMISSIONS = [*AGENT_PERMISSIONS, READ_ALL_HISTORY, VIEW_FLOOR]

DIRECTOR_PERMISSIONS = [
    *TEAM_LEAD_PERMISSIONS,
    "feedback.view_reports",
    "feedback.view_feedback",
    # Accessibility feedback from /accessibility/: read, mark answered, delete on request.
    "feedback.view_accessibilityfeedback",
    "feedback.change_accessibilityfeedback",
    "feedback.delete_accessibilityfeedback",
    "chat.view_auditevent",
    "chat.view_retentionrun",
    "chat.handle_data_requests",
    "agents.review_access",
    "agents.view_accessgrant",
    "agents.add_accessgrant",
    "agents.view_agentprofile",
    "agents.change_agentprofile",
    "agents.add_cannedreply",
    "agents.change_cannedreply",
    "agents.delete_cannedreply",
    "chat.view_openinghours",
    "chat.add_openinghours",
    "chat.change_openinghours",
    "chat.delete_openinghours",
    "chat.view_topic",
    "chat.add_topic",
    "chat.change_topic",
    "chat.delete_topic",
    "chat.view_greeting",
    "chat.add_greeting",
    "chat.change_greeting",
    "chat.delete_greeting",
    "chat.view_controllerdetails",
    "chat.add_controllerdetails",
    "chat.change_controllerdetails",
    # The lists an agent chooses from when a chat ends.
    *(
        f"chat.{action}_{model}"
        for model in ("tag", "wrapupreason")
        for action in ("view", "add", "change", "delete")
    ),
    "auth.view_user",
    "auth.add_user",
    "auth.change_user",
    "auth.view_group",
]

ROLES = {
    AGENT: AGENT_PERMISSIONS,
    TEAM_LEAD: TEAM_LEAD_PERMISSIONS,
    DIRECTOR: DIRECTOR_PERMISSIONS,
}
CHAT_ROLES = tuple(ROLES)


def _permission(code: str) -> Permission:
    app_label, codename = code.split(".")
    return Permission.objects.get(content_type__app_label=app_label, codename=codename)


def roles_sync(using: str = "default") -> dict[str, Group]:
    """Creates the role groups and sets their permissions exactly to the list above."""
    # post_migrate reaches apps one by one; make sure every app's permissions exist first.
    for app_config in apps.get_app_configs():
        create_permissions(app_config, verbosity=0, using=using)
    groups = {}
    for name, codes in ROLES.items():
        group, _ = Group.objects.get_or_create(name=name)
        group.permissions.set([_permission(code) for code in codes])
        groups[name] = group
    return groups


#: The roles' names as people read them (the groups keep their English names).
ROLE_LABELS = {
    AGENT: pgettext_lazy("role", "Agent"),
    TEAM_LEAD: pgettext_lazy("role", "Team lead"),
    DIRECTOR: pgettext_lazy("role", "Service director"),
    "superuser": pgettext_lazy("role", "Superuser"),
}


def role_label(name: str) -> str:
    """A role's name in the current language; an unknown group keeps its own name."""
    return str(ROLE_LABELS.get(name, name))
