"""A publishing output for flavors of release 1473.0 in every provider's shape, as glci writes it.

Values follow glci's output for release 1877.3 (AMI ids, gallery ids, image names): the form, not real images.
"""

from __future__ import annotations

__all__ = ["VALID_YAML", "IMAGE", "GALLERY"]

IMAGE = "gardenlinux-{}-1877.3-75df9f40"
GALLERY = "/CommunityGalleries/gardenlinux-{}/Images/{}/Versions/1877.3.0"
PUBLIC, CHINA = "13e998fe-534d-4b0a-8a27-f16a73aef620", "8e6518fb-9ae0-4f66-abfd-9a06997e2492"

VALID_YAML = f"""\
aws-gardener_prod-amd64:
  published_aws_images:
    - ami_id: ami-00c6adf1de4dd746a
      aws_region_id: ap-south-1
      image_name: {IMAGE.format("aws-gardener_prod-amd64")}
      cloud: public
    - ami_id: ami-093c993faaca89b4d
      aws_region_id: cn-north-1
      image_name: {IMAGE.format("aws-gardener_prod-amd64")}
      cloud: China
azure-gardener_prod-amd64:
  published_gallery_images:
    - azure_cloud: public
      community_gallery_image_id: {GALLERY.format(PUBLIC, "gardenlinux-nvme")}
      hyper_v_generation: V1
    - azure_cloud: china
      community_gallery_image_id: {GALLERY.format(CHINA, "gardenlinux-nvme-gen2")}
      hyper_v_generation: V2
gcp-gardener_prod-arm64:
  gcp_image_name: gardenlinux-gcp-c8504d3c3e67cf2fc7c3408c-1877-3-75df9f40
  gcp_project_name: sap-se-gcp-gardenlinux
openstack-gardener_prod-amd64:
  published_openstack_images:
    - image_id: 15fc38b3-1cee-4c0a-829a-ef1f7faa1920
      image_name: {IMAGE.format("openstack-gardener_prod-amd64")}
      region_name: eu-de-1
      variant: vmware
openstackbaremetal-gardener_prod-arm64:
  published_openstack_images:
    - image_id: c4e8e8e5-8c92-4c73-b21b-333087e7b092
      image_name: {IMAGE.format("openstackbaremetal-gardener_prod-arm64")}
      region_name: eu-de-2
ali-gardener_prod-amd64:
  published_alicloud_images:
    - image_id: m-gw86dlqmpaugljiykx91
      image_name: {IMAGE.format("ali-gardener_prod-amd64")}
      region_id: eu-central-1
"""
