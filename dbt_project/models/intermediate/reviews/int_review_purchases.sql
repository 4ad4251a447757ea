-- Who bought which reviewable Shopify product, by e-mail hash (the SHA-256 of the trimmed,
-- lower-cased address, as the inbox stores reviewers'): what turns a Shopify review app's
-- review into a verified purchase, since their exports do not all say. No address is kept.
select
    orders.connection_name,
    variants.shopify_product_number_id,
    sha256(lower(trim(orders.customer_email))) as email_sha256,
    min(orders.created_at) as first_purchased_at
from {{ ref('stg_shopify__orders') }} as orders
inner join {{ ref('stg_shopify__order_lines') }} as lines
    on orders.connection_name = lines.connection_name
    and orders.shopify_order_id = lines.shopify_order_id
inner join {{ ref('int_shopify_variants_to_products') }} as variants
    on lines.connection_name = variants.connection_name
    and lines.shopify_variant_id = variants.shopify_variant_id
where orders.customer_email is not null and orders.cancelled_at is null
group by all
