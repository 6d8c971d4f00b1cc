"""Every URL of the dashboard, pages and API, in one list."""

from tornado.web import RedirectHandler, url

from fleet.actions import ACTIONS
from fleet.api.audit import AuditApi
from fleet.api.control import ActionApi, SignalApi, UpdateApi
from fleet.api.live import EventsApi, TailApi
from fleet.api.logs import ClearLogApi, DownloadLogApi, MainLogApi
from fleet.api.rollout import RolloutApi
from fleet.api.status import GroupApi, GroupsApi, MeApi, ProcessesApi, ServerApi, ServersApi
from fleet.views import DashboardPage, LoginPage, LogoutPage

NAME = r'([^/]+)'

urls = [
    url(r'/', RedirectHandler, {'url': '/groups'}),
    url(r'/login', LoginPage, name='login'),
    url(r'/logout', LogoutPage, name='logout'),
    url(r'/groups', DashboardPage, {'view': 'groups'}, name='groups'),
    url(r'/servers', DashboardPage, {'view': 'servers'}, name='servers'),
    url(r'/processes', DashboardPage, {'view': 'processes'}, name='processes'),
    url(r'/audit', DashboardPage, {'view': 'audit'}, name='audit'),
    url(r'/api/me', MeApi),
    url(r'/api/servers', ServersApi),
    url(rf'/api/servers/{NAME}', ServerApi),
    url(rf'/api/servers/{NAME}/update', UpdateApi),
    url(r'/api/groups', GroupsApi),
    url(rf'/api/groups/{NAME}', GroupApi),
    url(rf'/api/groups/{NAME}/rollout', RolloutApi),
    url(r'/api/processes', ProcessesApi),
    url(rf'/api/processes/{NAME}/tail', TailApi),
    url(rf'/api/processes/{NAME}/log', DownloadLogApi),
    url(rf'/api/processes/{NAME}/clear', ClearLogApi),
    url(rf'/api/servers/{NAME}/log', MainLogApi),
    url(rf'/api/actions/({"|".join(ACTIONS)})', ActionApi),
    url(r'/api/actions/signal', SignalApi),
    url(r'/api/audit', AuditApi),
    url(r'/api/events', EventsApi),
]
