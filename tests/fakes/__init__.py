"""What tests share, so that no test module imports another: fake clouds
and services (``fake_cloud``, ``file_cloud``, ``fake_glance``,
``fake_neutron``, ``fake_swift``), builders and readers (``service``,
``cli``, ``plugin_helpers``, ``server_helpers``, ``preflight``,
``bank_edits``, ``paths``), the protection API behind fake tokens
(``api``) and the fullstack tests' helpers on a real cloud
(``crash_world``, ``heat_stacks``, ``devcloud``)."""
