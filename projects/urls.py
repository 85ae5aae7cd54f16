from django.urls import path

from . import quality_views, review, views

urlpatterns = [
    path("", views.project_list, name="project_list"),
    path("projects/new/", views.project_create, name="project_create"),
    path("projects/<int:pk>/", views.project_detail, name="project_detail"),
    path("projects/<int:pk>/label/", views.label, name="label"),
    path("projects/<int:pk>/label/comment/", views.label_comment, name="label_comment"),
    path("projects/<int:pk>/label/order/", review.my_queue_order, name="my_queue_order"),
    path("projects/<int:pk>/review/", review.review, name="review"),
    path("projects/<int:pk>/workflow/", review.workflow, name="workflow"),
    path("projects/<int:pk>/delete/", review.project_delete, name="project_delete"),
    path("projects/<int:pk>/classes/", review.class_add, name="class_add"),
    path("projects/<int:pk>/classes/<int:index>/", review.class_rename, name="class_rename"),
    path("projects/<int:pk>/agreement/", quality_views.agreement, name="agreement"),
    path(
        "projects/<int:pk>/annotators/<int:user_id>/exclusion/",
        quality_views.annotator_exclusion,
        name="annotator_exclusion",
    ),
    path("projects/<int:pk>/checks/", quality_views.gold_checks, name="gold_checks"),
    path("projects/<int:pk>/import/", views.import_samples, name="import_samples"),
    path("projects/<int:pk>/import/<str:token>/", views.import_map, name="import_map"),
    path("projects/<int:pk>/imports/<int:job_id>/", views.import_job, name="import_job"),
    path("projects/<int:pk>/members/", views.members, name="members"),
    path("projects/<int:pk>/members/<int:user_id>/", views.member_update, name="member_update"),
]
